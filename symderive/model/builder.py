r"""Writing a model in Python: the public way to define one, and the way the built-ins define theirs.

    >>> import symderive as sd
    >>> m = sd.Model("sigmoid_rnn", latex_names={"d_h": r"\delta"})
    >>> n, d, q = m.sizes("n d q")
    >>> W_hh, W_xh, b_h = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b_h", n)
    >>> W_hy, b_y = m.param("W_hy", q, n), m.param("b_y", q)
    >>> x, y = m.sequence("x", d), m.sequence("y", q)
    >>> h = m.state("h", n)                       # h is h_t, h.prev is h_{t-1}, h0 its initial value
    >>> z = m.let("z", W_hh @ h.prev + W_xh @ x + b_h)
    >>> m.let(h, sd.sigmoid(z))
    >>> o = m.let("o", W_hy @ h + b_y)
    >>> m.loss(sd.squared_norm(o - y) / 2)        # per step: L = \sum_{t=1}^{T} \ell_t
    >>> der = sd.derive(m)                        # the same Derivation the built-ins are

A model with no sequence and no state is not recurrent (``m.input`` declares its data); every value of
a recurrent model is written for a generic step ``t``. Values are SymPy matrix expressions: ``@`` (or
``*``) is the matrix product, ``sd.hadamard(a, b)`` the elementwise one, ``.T`` the transpose; vectors are
columns (``n``) or rows (``1, n``). Elementwise: ``sd.sigmoid``, ``sd.tanh``, ``sd.relu``, ``sd.softplus``,
``sd.exp``, ``sd.log``, ``sd.sqrt``, ``sd.power(v, p)``, ``sd.divide(a, b)`` (any registered function:
``sd.apply``); over a vector's entries: ``sd.softmax``, ``sd.log_softmax``, ``sd.sum_entries``. Rows as tokens (a
matrix N x D): ``sd.softmax(S, rows=True, causal=False)``, ``sd.layer_norm(X, gamma, beta, eps=1e-5)`` (and its
``sd.normalize_rows(X, eps)``), ``sd.attention_scale(d_k)`` (the factor 1/sqrt(d_k), the export's ``scale=None``),
``sd.repeat_rows(b, N)`` (a bias row repeated down N rows), ``sd.row_sum``, ``sd.row_mean``. Scalar losses:
``sd.squared_norm(v)``, ``sd.cross_entropy(o, y)`` (logits o), ``sd.binary_cross_entropy(p, y)``, and sums and
multiples of these.
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import ModelError
from symderive.model.program import Assign, Program, check_shapes, key
from symderive.ops.nodes import Elementwise, SquaredNorm, T, TimeVar, hadamard, ones, t
from symderive.ops.registry import shape_text
from symderive.ops.rows import NormalizeRows, RowMean, RowSum, SoftmaxRows, causal_option, eps_option, scale_option
from symderive.ops.softmax import LogSoftmax, Softmax, SumEntries, fuse_log_softmax

__all__ = ["Model", "apply", "tanh", "sigmoid", "relu", "softplus", "exp", "log", "sqrt", "hadamard", "power",
           "divide", "squared_norm", "sum_entries", "ones_like", "softmax", "log_softmax", "cross_entropy",
           "binary_cross_entropy", "layer_norm", "normalize_rows", "attention_scale", "repeat_rows", "row_sum",
           "row_mean"]


class Model:
    """A model under construction: sizes, parameters, data, states, named values and a loss. A model that is
    not recurrent takes its arguments in the order they are declared (data first, then weights, as attention
    writes ``X, G, W_q, ...``); a recurrent one its parameters, initial states, then data (PyTorch's order)."""

    def __init__(self, name: str, latex_names: dict | None = None):
        self.name, self.latex_names = name, dict(latex_names or {})
        self.params: list = []
        self.inputs: list = []
        self.states: dict = {}
        self.assignments: list[Assign] = []
        self._loss = None
        self._names: set[str] = set()
        self._order: list[str] = []  # every name in the order declared

    def _declare(self, name: str) -> str:
        """``name``, refused when the model has a value of that name already."""
        if name in self._names:
            raise ModelError(f"{self.name} has a value named {name} already (every value needs a name of its own)")
        self._names.add(name)
        self._order.append(name)
        return name

    # -- declarations -------------------------------------------------------------------------
    def sizes(self, names: str) -> tuple[sp.Symbol, ...]:
        """Size symbols (positive integers), e.g. ``n, d = m.sizes("n d")``."""
        return tuple(sp.symbols(names, integer=True, positive=True, seq=True))

    def param(self, name: str, rows=1, cols=1) -> sp.MatrixSymbol:
        """A parameter (the same in every step): a matrix, a column vector when ``cols`` is 1, a scalar
        (1 x 1) without sizes."""
        self.params.append(sp.MatrixSymbol(self._declare(name), rows, cols))
        return self.params[-1]

    def input(self, name: str, rows=1, cols=1) -> sp.MatrixSymbol:
        """Data of a non-recurrent model (``x``, a target ``y``)."""
        self.inputs.append(sp.MatrixSymbol(self._declare(name), rows, cols))
        return self.inputs[-1]

    def sequence(self, name: str, rows=1, cols=1) -> TimeVar:
        """Data given at every step (``x_t``, ``y_t``); exported as one array of shape (T, rows), (T,)
        for a scalar."""
        self.inputs.append(TimeVar(self._declare(name), t, rows, cols))
        return self.inputs[-1]

    def state(self, name: str, rows=1, cols=1, initial: str | int | None = None) -> TimeVar:
        """A recurrent state ``h_t``, read at the previous step as ``h.prev``; its initial value is an
        argument named ``initial`` (default ``h0``), or fixed at zero with ``initial=0`` (``h_0 = 0``: no
        argument, no gradient). Define it with ``m.let(h, ...)``."""
        self.states[self._declare(name)] = initial_value(self, name, rows, cols, initial)
        return TimeVar(name, t, rows, cols)

    # -- the computation ----------------------------------------------------------------------
    def let(self, target, expr):
        """``target := expr``: a new value named ``target`` (a string), or the definition of a state."""
        expr = sp.sympify(expr)
        if isinstance(target, str):
            self._declare(target)
            target = TimeVar(target, t, *expr.shape) if self.recurrent else sp.MatrixSymbol(target, *expr.shape)
        elif not (isinstance(target, TimeVar) and target.name in self.states):
            raise ModelError(f"m.let takes a new name or a declared state, not {target}")
        elif any(a.target.name == target.name for a in self.assignments):
            raise ModelError(f"the state {target.name} is defined already")
        check_shapes(expr, key(target))
        self.assignments.append(Assign(target, expr))
        return target

    def loss(self, expr, mean: bool = False) -> None:
        """The scalar loss: of one step for a recurrent model (``L = sum_t loss_t``; with ``mean``, the
        mean over steps ``L = (1/T) sum_t loss_t``), else of the model."""
        expr = sp.sympify(expr)
        if mean and not self.recurrent:
            raise ModelError("mean=True averages a recurrent model's loss over its steps; this model has no steps")
        if getattr(expr, "is_Matrix", False) and expr.shape != (1, 1):
            raise ModelError(f"the loss must be a scalar, not a {shape_text(expr.shape)} matrix "
                             "(sd.squared_norm(v), sd.sum_entries(v), sd.cross_entropy(o, y), ...)")
        check_shapes(expr, "the loss")
        self._loss = expr / T if mean else expr

    @property
    def recurrent(self) -> bool:
        return bool(self.states) or any(isinstance(v, TimeVar) for v in self.inputs)

    def program(self) -> Program:
        """The model as a checked :class:`~symderive.model.program.Program`."""
        if self._loss is None:
            raise ModelError(f"the model {self.name} has no loss: call m.loss(...)")
        assignments, loss = fuse_log_softmax(tuple(self.assignments), self._loss)
        given = {key(v) for v in (*self.params, *self.inputs)}
        declared = () if self.recurrent else tuple(name for name in self._order if name in given)
        return Program(name=self.name, assignments=assignments, params=tuple(self.params),
                       inputs=tuple(self.inputs), loss=loss, states=dict(self.states),
                       latex_names=dict(self.latex_names), order=declared)


def initial_value(m: Model, name: str, rows, cols, initial):
    """The initial value of the state ``name``: an argument (named ``initial``, default ``name0``), or the
    zero matrix for ``initial=0``."""
    if isinstance(initial, str) or initial is None:
        return sp.MatrixSymbol(m._declare(initial or f"{name}0"), rows, cols)
    if initial == 0 and not isinstance(initial, bool):
        return sp.ZeroMatrix(rows, cols)
    raise ModelError(f"the initial value of {name} is an argument name or 0 (h_0 = 0), not {initial!r}")


# ---------------------------------------------------------------------------------------------
# Building blocks of expressions (the public spellings).


def apply(fname: str, z):
    """``f(z)`` entry by entry, for any registered elementwise function (see ``symderive.ops.functions``)."""
    return Elementwise(fname, z)


def tanh(z):
    """``tanh(z)`` entry by entry."""
    return Elementwise("tanh", z)


def sigmoid(z):
    """``sigma(z) = 1 / (1 + e^{-z})`` entry by entry."""
    return Elementwise("sigmoid", z)


def relu(z):
    """``max(0, z)`` entry by entry (its derivative is taken as 0 at 0)."""
    return Elementwise("relu", z)


def softplus(z):
    """``log(1 + e^z)`` entry by entry."""
    return Elementwise("softplus", z)


def exp(z):
    """``e^z`` entry by entry."""
    return Elementwise("exp", z)


def log(z):
    """``log z`` entry by entry."""
    return Elementwise("log", z)


def sqrt(z):
    """``sqrt(z)`` entry by entry (for z > 0)."""
    return Elementwise("sqrt", z)


def power(v, p):
    """``v^{∘p}``: each entry to the number ``p`` (``power(v, -1)`` is the reciprocal ``1/v``)."""
    if not sp.sympify(p).is_number:
        raise ModelError(f"power takes a number as the exponent, not {p}")
    return sp.HadamardPower(v, p)


def divide(a, b):
    """``a / b`` entry by entry, ``a ⊙ b^{∘-1}``."""
    return hadamard(a, power(b, -1))


def squared_norm(v):
    """The scalar ``||v||^2 = sum_i v_i^2``."""
    return SquaredNorm(v)


def ones_like(v):
    """The all-ones matrix of the shape of ``v`` (the ``1`` in ``1 - z``)."""
    return ones(v)


def sum_entries(v):
    """The scalar ``1^T v = sum_i v_i`` (of a matrix: the sum of all its entries)."""
    return SumEntries(v)


def softmax(v, rows: bool = False, causal: bool = False):
    """``softmax(v)_i = e^{v_i} / sum_j e^{v_j}`` over the entries of a vector (a column, or a row 1 x n); with
    ``rows=True`` the softmax of each row of a matrix, and with ``causal=True`` row i over the columns j <= i only
    (PyTorch's ``is_causal``; the exported functions take ``causal=`` as a keyword)."""
    if causal and not rows:
        raise ModelError("causal=True masks a row-wise softmax: write sd.softmax(S, rows=True, causal=True)")
    return SoftmaxRows(v, causal_option(causal)) if rows else Softmax(v)


def normalize_rows(X, eps=1e-5):
    """``(x - mean(x)) / sqrt(var(x) + eps)`` for each row x of a matrix (the biased variance, as PyTorch's
    layer norm); ``eps`` is the exported functions' keyword ``eps``, with this default."""
    return NormalizeRows(X, eps_option(eps))


def repeat_rows(b, rows):
    """The matrix whose ``rows`` rows are all ``b`` (a row 1 x D, or a column D x 1 read as a row): ``1 b``."""
    b = sp.Transpose(b).doit() if b.shape[1] == 1 and b.shape[0] != 1 else b
    if b.shape[0] != 1:
        raise ModelError(f"repeat_rows takes a vector, not the {shape_text(b.shape)} matrix {b}")
    return sp.MatMul(sp.OneMatrix(rows, 1), b)


def layer_norm(X, gamma, beta, eps=1e-5):
    """``gamma ⊙ (x - mean(x)) / sqrt(var(x) + eps) + beta`` for each row x of ``X`` (N x D), with ``gamma`` and
    ``beta`` vectors of size D (rows 1 x D or columns D x 1), as ``torch.nn.functional.layer_norm(X, (D,), gamma,
    beta, eps)``."""
    rows = X.shape[0]
    scale, shift = repeat_rows(gamma, rows), repeat_rows(beta, rows)
    if scale.shape != X.shape or shift.shape != X.shape:
        raise ModelError(f"layer_norm of the {shape_text(X.shape)} {X} takes gamma and beta of size {X.shape[1]}, "
                         f"not {shape_text(gamma.shape)} and {shape_text(beta.shape)}")
    return hadamard(normalize_rows(X, eps), scale) + shift


def attention_scale(d_k):
    """``1/sqrt(d_k)``, the factor of ``Q K^T`` in attention; the exported functions take it as ``scale=None``."""
    return scale_option(d_k)


def row_sum(A):
    """The column ``A 1`` of the row sums of a matrix."""
    return RowSum(A)


def row_mean(A):
    """The column of the row means of a matrix."""
    return RowMean(A)


def log_softmax(v):
    """``log softmax(v)_i = v_i - log sum_j e^{v_j}`` over the entries of a vector (column or row)."""
    return LogSoftmax(v)


def cross_entropy(logits, target):
    """The cross-entropy ``-y^T log softmax(o)`` of logits ``o`` against a target ``y`` of the same shape
    (one-hot, or any distribution), a column or a row. Its gradient with respect to the
    logits is ``softmax(o) (1^T y) - y``, which is ``softmax(o) - y`` when y sums to 1."""
    same_shape(logits, target, "cross_entropy")
    return -SumEntries(hadamard(target, LogSoftmax(logits)))


def binary_cross_entropy(p, target):
    """``-sum_i (y_i log p_i + (1 - y_i) log(1 - p_i))`` of probabilities ``p`` (in (0, 1)) against ``y``."""
    same_shape(p, target, "binary_cross_entropy")
    one = ones(p)
    return -SumEntries(hadamard(target, log(p)) + hadamard(one - target, log(one - p)))


def same_shape(a, b, what: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ModelError(f"{what} takes two values of one shape, not {shape_text(a.shape)} and {shape_text(b.shape)}")
