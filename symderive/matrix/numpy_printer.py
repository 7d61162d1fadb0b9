"""A NumPy code printer for model expressions, in row-stacked form.

A column vector ``v_t`` is stored as the row ``v[t]`` of a (steps, size) array, so the same printed
code evaluates one step (``v[t]`` is 1-D) or all steps at once (``v[1:T + 1]`` is 2-D):

* ``A v``          -> ``v @ A.T``            (and ``A^T v`` -> ``v @ A``)
* ``a ⊙ b``        -> ``a * b``;  ``f(z)`` -> ``np.tanh(z)``, ...
* ``sum_t a_t b_t^T`` -> ``a[1:T + 1].T @ b[1:T + 1]`` (one matrix product over all steps)
* ``sum_t a_t``    -> ``a[1:T + 1].sum(axis=0)``
* ``||v||^2``      -> ``np.sum(v ** 2, axis=-1)``
* scalars (1 x 1): one number per step (``s[t]``, or ``s[1:T + 1]`` of shape (T,)); ``c v`` -> ``c * v``
  (over a batch of steps ``s[..., None] * v``), ``u^T v`` -> ``np.sum(u * v, axis=-1)``, ``a^2`` -> ``a ** 2``
* a row vector ``x_t`` (1 x d, a model written in rows) is stored as a column is: ``x W`` -> ``x @ W``

How a time-indexed value is spelled (one step, a slice of steps, a local) is the ``index`` setting.
"""
from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy import MatMul, Transpose
from sympy.printing.numpy import NumPyPrinter

from symderive.errors import ModelError
from symderive.model.scalars import is_scalar
from symderive.ops.nodes import TimeVar, t
from symderive.ops.registry import ACTIVATIONS, is_row_vector


def is_vector(e) -> bool:
    return e.shape[1] == 1


def split_outer(factors):
    """``(column factors, row factors)`` of ``M1 ... Mk v r^T ...``: the product up to the first factor
    with one column is a column vector; what follows (if anything) is a row vector."""
    k = next((i for i, f in enumerate(factors) if is_vector(f)), None)
    if k is None:
        raise ModelError(f"cannot print the matrix product {MatMul(*factors)} in row form")
    return factors[:k + 1], factors[k + 1:]


def is_row(e) -> bool:
    return is_row_vector(e.shape)


def inner_products(factors) -> list:
    """``factors`` (no 1 x 1 among them) with every inner product ``r M1 ... Mk c`` (a row, matrices, a
    column: a scalar) gathered into a tuple of its factors."""
    out, i = [], 0
    while i < len(factors):
        j = i + 1
        while is_row(factors[i]) and j < len(factors) and not is_vector(factors[j]):
            j += 1
        if is_row(factors[i]) and j < len(factors):
            out.append(tuple(factors[i:j + 1]))
            i = j + 1
        else:
            out.append(factors[i])
            i += 1
    return out


def column(row):
    """The column vector whose transpose is ``row`` (``(a ⊙ b)^T`` -> ``a ⊙ b``)."""
    return Transpose(row).doit()


def identifier(name: str) -> str:
    """A Python identifier for a model name (letters, digits and underscores only)."""
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return safe if safe and not safe[0].isdigit() else "_" + safe


class RowPrinter(NumPyPrinter):
    """Prints an expression as NumPy code over row-stacked values.

    ``index(var: TimeVar) -> str`` spells a time-indexed value; ``batch(lo, hi)`` returns the
    printer used for ``TimeSum`` bodies (the same expression over steps lo..hi at once)."""

    _default_settings = {**NumPyPrinter._default_settings, "index": None, "batch": None, "batched": False,
                         "examples": False, "steps": False, "weights": frozenset()}

    def __init__(self, settings=None):
        super().__init__({"fully_qualified_modules": False, **(settings or {})})
        self.module_imports.clear()

    def _print_TimeVar(self, e):
        return self._settings["index"](e)

    def _print_MatrixSymbol(self, e):
        return identifier(e.name)

    def _print_MatAdd(self, e):
        """Positive terms first, then `- term` for each term with a negative coefficient."""
        positive = [self._print(a) for a in e.args if not negated(a)]
        negative = [self._print(-a) for a in e.args if negated(a)]
        return "(" + " + ".join(positive or ["0.0"]) + "".join(" - " + c for c in negative) + ")"

    def _print_MatMul(self, e):
        """``M1 ... Mk v`` -> ``v @ Mk.T @ ... @ M1.T``; a trailing row ``r^T`` makes an outer product.
        With scalar (1 x 1) factors, or a leading row vector, see :meth:`scalar_product`."""
        coeff, factors = e.as_coeff_matrices()
        matrices = None if any(map(is_scalar, factors)) else self.matrix_product(factors)
        if matrices is not None:
            return matrices if coeff == 1 else f"({self._print(coeff)} * {matrices})"
        if any(map(is_scalar, factors)) or is_row(factors[0]):
            return self.scalar_product(coeff, factors)
        left, right = split_outer(factors)
        body = self.column_code(left)
        if right:
            body = self.outer(body, self._print(column(MatMul(*right).doit())))
        return body if coeff == 1 else f"({self._print(coeff)} * {body})"

    def matrix_product(self, factors) -> str | None:
        """A product of matrices whose rows are tokens: ``A @ B.T``; ``r 1^T`` (a row statistic spread over the
        columns) and ``1 g`` (a row repeated down the rows) are broadcasting, ``1^T A`` and ``A 1`` the column and row
        sums (vectors, stored 1-D). None when
        a vector takes part in another way (the product of a vector model, in row form)."""
        if len(factors) == 2 and isinstance(factors[1], sp.OneMatrix) and is_vector(factors[0]):
            return self._print(factors[0])  # an n x 1 statistic is kept as (n, 1): it broadcasts over columns
        if len(factors) == 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].cols == 1 and is_row(factors[1]):
            return self._print(factors[1])  # a row is stored as (m,): it broadcasts over rows
        if len(factors) == 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].rows == 1:
            axis = -1 if is_vector(factors[1]) else -2  # 1^T v: a vector's entries (its last axis); 1^T A: A's rows
            return f"np.sum({self._print(factors[1])}, axis={axis})"
        if len(factors) == 2 and isinstance(factors[1], sp.OneMatrix) and factors[1].cols == 1:
            return f"np.sum({self._print(factors[0])}, axis=-1)"  # A 1: a vector, stored as (n,)
        if any(1 in f.shape for f in factors):
            return None
        return "(" + " @ ".join(self.matrix_operand(f) for f in factors) + ")"

    def matrix_operand(self, f) -> str:
        """A factor of a product of matrices (a transpose, a sum in parentheses)."""
        if isinstance(f, Transpose):
            return self.swapped(f.arg)
        return self._print(f)

    def swapped(self, m) -> str:
        """``M^T``: a weight's ``W.T``; anything else may carry a leading batch axis (examples), so its last
        two axes swap (``A.swapaxes(-1, -2)``, a view, as ``.T`` of one example)."""
        operand = self.matrix_operand(m)
        weight = isinstance(m, sp.MatrixSymbol) and m.name in self._settings["weights"]
        return f"{operand}.T" if weight else f"{operand}.swapaxes(-1, -2)"

    def scalar_product(self, coeff, factors) -> str:
        """The scalars (1 x 1 factors, inner products ``r M c``) times what remains, a vector or matrix:
        ``s * (v @ W.T)``; over a batch of steps a scalar of each step is a column (``s[..., None]``)."""
        scalars = [self._print(f) for f in factors if is_scalar(f)]
        pieces = inner_products([f for f in factors if not is_scalar(f)])
        scalars += [self.inner_product(p) for p in pieces if isinstance(p, tuple)]
        rest = [p for p in pieces if not isinstance(p, tuple)]
        if coeff != 1:
            scalars.insert(0, self._print(coeff))
        if not rest:
            return "(" + " * ".join(scalars) + ")" if len(scalars) > 1 else scalars[0]
        body = self.row_product(rest) if is_row(rest[0]) else self._print(MatMul(*rest))
        if not scalars:
            return body
        varying = [f for f in factors if is_scalar(f)] + [f for p in pieces if isinstance(p, tuple) for f in p]
        if self._settings["batched"] and any(f.atoms(TimeVar) for f in varying):
            return f"(({' * '.join(scalars)})[..., None] * {body})"
        return f"({' * '.join(scalars)} * {body})"

    def inner_product(self, piece) -> str:
        """``r M1 ... Mk c`` (a row times matrices times a column) -> ``np.sum((r @ M1 ...) * c, axis=-1)``."""
        *row, col = piece
        return f"np.sum({self.row_product(row)} * {self._print(col)}, axis=-1)"

    def row_product(self, factors) -> str:
        """``r M1 ... Mk`` (a row vector times matrices) -> ``(r @ M1 @ ... @ Mk)``."""
        if len(factors) == 1:
            return self.vector(factors[0])
        return self.chain(self.vector(factors[0]), [self.matrix(f) for f in factors[1:]])

    def chain(self, first: str, matrices: list[str]) -> str:
        """``(first @ M1 @ ... @ Mk)``; over steps and examples (settings ``steps`` and ``examples``) each
        product is ``_mm``, one matrix product of all the rows at once."""
        if self._settings["steps"] and self._settings["examples"]:
            for m in matrices:
                first = f"_mm({first}, {m})"
            return first
        return "(" + first + "".join(" @ " + m for m in matrices) + ")"

    def vector(self, v) -> str:
        """A row or column vector; its transpose is stored alike (one row per step)."""
        return self._print(v.arg if isinstance(v, Transpose) else v)

    def matrix(self, m) -> str:
        """Code for a time-invariant matrix M (``W``, ``W.T``)."""
        if isinstance(m, sp.MatrixSymbol):
            return self._print(m)
        return self.transposed(m.arg)

    def _print_Transpose(self, e):
        """A vector's transpose is the vector (row and column vectors are stored alike, one row per step)."""
        if is_scalar(e) or 1 in e.arg.shape:
            return self._print(e.arg)
        return self.swapped(e.arg)

    def _print_Identity(self, e):
        return "1.0" if is_scalar(e) else super()._print_Identity(e)

    def _print_MatPow(self, e):
        return f"({self._print(e.base)} ** {self._print(e.exp)})"

    def _print_Pow(self, e):
        if e.exp == -1 and not e.base.atoms(sp.MatrixExpr):
            return f"(1 / {self._print(e.base)})"
        return super()._print_Pow(e)

    def column_product(self, factors) -> str:
        if len(factors) == 1:
            return self._print(factors[0])
        return self.chain(self._print(factors[-1]), [self.transposed(f) for f in reversed(factors[:-1])])

    def transposed(self, m) -> str:
        """Code for M^T of a time-invariant matrix M."""
        if isinstance(m, Transpose) and isinstance(m.arg, sp.MatrixSymbol):
            return self._print(m.arg)
        if isinstance(m, sp.MatrixSymbol):
            return self._print(m) + ".T"
        raise ModelError(f"cannot print the transpose of {m} in row form")

    def _print_HadamardProduct(self, e):
        return "(" + " * ".join(self._print(a) for a in e.args) + ")"

    def _print_HadamardPower(self, e):
        base = self._print(e.base)
        return f"({base} * {base})" if e.exp == 2 else f"({base} ** {self._print(e.exp)})"

    def _print_Elementwise(self, e):
        return ACTIVATIONS[e.fname].numpy.format(self._print(e.arg))

    def _print_OneMatrix(self, e):
        return "1.0"

    def _print_Concat(self, e):
        return "np.concatenate([" + ", ".join(self._print(a) for a in e.args) + "], axis=-1)"

    def _print_Rows(self, e):
        arg, start, stop = e.args
        return f"{self._print(arg)}[..., {code(start)}:{code(stop)}]"

    def _print_ZeroMatrix(self, e):
        return "0.0" if is_scalar(e) else f"np.zeros({code(e.rows)})"

    def _print_SquaredNorm(self, e):
        if is_scalar(e.arg):
            return f"({self._print(e.arg)} ** 2)"
        return f"np.sum({self._print(e.arg)} ** 2, axis=-1)"

    def _print_TimeSum(self, e):
        var, lo, hi = e.limits
        if var != t:
            raise ModelError(f"a sum over {var} cannot be printed as code")
        batch = self._settings["batch"](lo, hi)
        terms = e.body.args if isinstance(e.body, sp.MatAdd) else (e.body,)
        return "(" + " + ".join(self.time_sum(a, batch) for a in terms) + ")"

    def time_sum(self, body, batch: "RowPrinter") -> str:
        """sum over steps of a vector or scalar (``.sum(axis=0)``) or of an outer product (one matmul)."""
        if is_vector(body) or is_row(body):
            return f"{batch._print(body)}.sum(axis=0)"
        coeff, factors = body.as_coeff_matrices() if isinstance(body, MatMul) else (1, [body])
        scalars = [batch._print(f) for f in factors if is_scalar(f)]
        left, right = split_outer([f for f in factors if not is_scalar(f)])
        if not right:
            raise ModelError(f"cannot print the sum over time of {body} as code")
        if scalars or isinstance(left[0], Transpose):
            column_code = batch.column_code(left)
            if scalars:
                column_code = f"(({' * '.join(scalars)})[..., None] * {column_code})"
            code = self.outer_sum(column_code, batch.row_product(right))
        else:
            code = self.outer_sum(batch.column_product(left), batch._print(column(MatMul(*right).doit())))
        return code if coeff == 1 else f"({self._print(coeff)} * {code})"

    def outer(self, a: str, b: str) -> str:
        """``a b^T``; with a batch axis of examples (setting ``examples``), of each example."""
        return f"_outer({a}, {b})" if self._settings["examples"] else f"np.outer({a}, {b})"

    def outer_sum(self, a: str, b: str) -> str:
        """``sum_t a_t b_t^T`` as one matrix product; with a batch axis, summed over the examples too."""
        return f"_outer_sum({a}, {b})" if self._settings["examples"] else f"({a}.T @ {b})"

    def column_code(self, factors) -> str:
        """``M1 ... Mk v`` as :meth:`column_product`; a transposed row vector alone is the row's storage."""
        if len(factors) == 1 and isinstance(factors[0], Transpose):
            return self.vector(factors[0])
        return self.column_product(factors)

    def _print_Rational(self, e):
        return repr(float(e))

    def _print_Integer(self, e):
        return f"{int(e)}.0" if abs(int(e)) < 10**15 else repr(float(e))

    def _print_Softmax(self, e):
        """``_softmax(z)``: exp(z - max z) / sum exp(z - max z) over each vector's entries (the export's helper)."""
        return f"_softmax({self._print(e.arg)})"

    def _print_LogSoftmax(self, e):
        """``_logsoftmax(z)``: (z - max z) - log sum exp(z - max z) over each vector's entries."""
        return f"_logsoftmax({self._print(e.arg)})"

    def _print_HeadStack(self, e):
        """``stack_h(A_h B_h^T)`` as an array (..., heads, N, M): one batched product (``_heads``: a helper)."""
        heads = self._print(e.heads)
        return f"(_heads({self._print(e.a)}, {heads}) @ _heads({self._print(e.b)}, {heads}).swapaxes(-1, -2))"

    def _print_HeadScale(self, e):
        return f"(1.0 / np.sqrt({self._print(e.width)} / {self._print(e.count)}))"

    def _print_HeadConcat(self, e):
        """``concat_h(P_h B_h)``: the stack P is an array (..., heads, N, M)."""
        return f"_merge_heads({self._print(e.a)} @ _heads({self._print(e.b)}, {self._print(e.heads)}))"

    def _print_HeadConcatT(self, e):
        """``concat_h(P_h^T A_h)``: the stack P is an array (..., heads, N, M)."""
        return (f"_merge_heads({self._print(e.a)}.swapaxes(-1, -2) @ "
                f"_heads({self._print(e.b)}, {self._print(e.heads)}))")
    def _print_Option(self, e):
        """A keyword argument of the exported functions, bound by its name."""
        return e.keyword

    def _print_RowSum(self, e):
        return f"np.sum({self._print(e.arg)}, axis=-1, keepdims=True)"

    def _print_RowMean(self, e):
        return f"_row_mean({self._print(e.arg)})"

    def _print_SoftmaxRows(self, e):
        """``_softmax_rows(S, causal)``: each row's softmax, masked causally when asked (the export's helper)."""
        return f"_softmax_rows({self._print(e.arg)}, {self._print(e.causal)})"

    def _print_NormalizeRows(self, e):
        """``_normalize_rows(X, eps)``: each row minus its mean over sqrt(var + eps) (the export's helper)."""
        return f"_normalize_rows({self._print(e.arg)}, {self._print(e.eps)})"

    def _print_InvStd(self, e):
        return f"_inv_std({self._print(e.arg)}, {self._print(e.eps)})"

    def _print_SumEntries(self, e):
        """``1^T v`` of each vector, kept as an axis of length 1 so that it scales a vector of every step."""
        return f"np.sum({self._print(e.arg)}, axis=-1, keepdims=True)"


def negated(e) -> bool:
    return isinstance(e, MatMul) and e.as_coeff_matrices()[0].could_extract_minus_sign()


def slice_index(storage_base: Callable[[str], int], lo, hi) -> Callable[[TimeVar], str]:
    """Spell ``v_{t+k}`` for t = lo..hi at once: ``v[lo + k - base : hi + k - base + 1]``."""

    def index(v: TimeVar) -> str:
        k = v.offset
        base = storage_base(v.name)
        start, stop = sp.sympify(lo) + k - base, sp.sympify(hi) + k - base + 1
        return f"{identifier(v.name)}[{code(start)}:{code(stop)}]"

    return index


def step_index(storage_base: Callable[[str], int], at=t) -> Callable[[TimeVar], str]:
    """Spell ``v_{t+k}`` at one step (the loop variable ``t``, or a number)."""

    def index(v: TimeVar) -> str:
        return f"{identifier(v.name)}[{code(v.time.xreplace({t: at}) - storage_base(v.name))}]"

    return index


def code(e) -> str:
    """Python for a small integer expression in t, T, m."""
    return sp.pycode(sp.expand(e))


def printer(index, storage_base, batched: bool = False, examples: bool = False, weights=frozenset()) -> RowPrinter:
    """The printer of one step (``index`` spells ``v_t``), or of steps at once (``batched``); ``examples``:
    every value has an axis of examples after the steps (a minibatch), so scalars of a step are vectors;
    ``weights``: the names of the parameters (never batched: their transposes are ``W.T``)."""
    def batch(lo, hi):
        return RowPrinter({"index": slice_index(storage_base, lo, hi), "batch": batch, "batched": True,
                           "examples": examples, "steps": True, "weights": weights})

    return RowPrinter({"index": index, "batch": batch, "batched": batched or examples, "examples": examples,
                       "steps": batched, "weights": weights})
