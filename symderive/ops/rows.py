r"""Row-wise nodes of matrix models whose rows are tokens (attention, layer norm), each registered once.

* :class:`Option` -- a number the model reads that is a keyword argument of the exported functions
  (``scale=None`` meaning ``1/\sqrt{d_k}``, ``eps=1e-5``, ``causal=False``);
* :class:`RowSum` and :class:`RowMean` -- the column ``A 1`` of row sums (``\operatorname{rowsum}(A)``) and
  ``A 1 / m`` of row means of an n x m matrix;
* :class:`SoftmaxRows` -- ``\operatorname{softmax}_{\text{row}}(S)``, the softmax of each row, optionally causal
  (row i attends to the columns j <= i, as PyTorch's ``is_causal``);
* :class:`NormalizeRows` and :class:`InvStd` -- each row centred and scaled to unit variance,
  ``\hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}``, and the column of ``1/\sqrt{\sigma^2 + \epsilon}``.

A row statistic (an n x 1 column) spreads over the columns as ``r \mathbf{1}^\top``. The VJP rules are the
compact forms (``P = softmax_row(S)``, ``\bar P = dL/dP``; ``\hat X`` normalised, ``r`` its inverse deviations):

    softmax_row:  \bar S = P \odot (\bar P - \operatorname{rowsum}(\bar P \odot P) 1^\top)
    normalise:    \bar X = (r 1^\top) \odot (\bar{\hat X} - \operatorname{mean}(\bar{\hat X}) 1^\top
                                            - \hat X \odot (\operatorname{mean}(\bar{\hat X} \odot \hat X) 1^\top))

each proved against ``sympy.diff`` at explicit sizes in ``tests/ops/test_rows.py``.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import Expr, MatMul, MatrixExpr
from sympy.core.symbol import Str
from sympy.core.sympify import _sympify

from symderive.errors import ModelError, OptionError
from symderive.export.scaffold import HELPERS
from symderive.ops.nodes import hadamard
from symderive.ops.registry import defvjp, evaluate_node, row_form, shape_conflict, shape_text
from symderive.ops.softmax import Normalised


class Option(Expr):
    r"""A number of the model that the exported functions take as a keyword argument.

    ``value`` is the number the model is derived and verified at (a size may appear in it: ``1/\sqrt{d_k}``);
    ``latex`` how formulas write it; ``default`` the keyword's default in the signature (Python) and ``code`` the
    Python that computes the number from the keyword (named ``keyword``) and the sizes. In the symbolic proof an
    option with ``free=True`` is a symbol of its own, so the proof holds for every value of it."""

    is_commutative = True

    def __new__(cls, keyword: str, value, latex: str, default: str, code: str, free: bool = True):
        texts = [t if isinstance(t, Str) else Str(t) for t in (keyword, latex, default, code)]
        return Expr.__new__(cls, texts[0], _sympify(value), *texts[1:], sp.true if free else sp.false)

    keyword = property(lambda self: self.args[0].name)
    value = property(lambda self: self.args[1])
    latex = property(lambda self: self.args[2].name)
    default = property(lambda self: self.args[3].name)
    code = property(lambda self: self.args[4].name)
    free = property(lambda self: bool(self.args[5]))

    @property
    def free_symbols(self):
        return self.value.free_symbols

    def _eval_is_positive(self):
        return self.value.is_positive


@defvjp(Option, r"\text{an option is a constant}")
def _option_vjp(node, g, ans, functions):
    return []


@row_form.register
def _row_option(e: Option):
    return e


@evaluate_node.register
def _evaluate_option(e: Option, ev):
    """Its value at the sizes; in the symbolic proof a free option is the symbol named after it."""
    symbolic = isinstance(ev.backend.scalar(0), sp.Basic)
    if symbolic and e.free:
        return sp.Symbol(f"option_{e.keyword}", positive=True)
    return ev.backend.scalar(e.value.xreplace(ev.env.sizes))


def options_of(program) -> list[Option]:
    """The options a program reads, by keyword (the order of the exported functions' keyword arguments)."""
    found = set().union(*(a.expr.atoms(Option) for a in program.assignments), program.loss.atoms(Option))
    by_keyword = {o.keyword: o for o in sorted(found, key=sp.default_sort_key)}
    return [by_keyword[k] for k in sorted(by_keyword)]


def scale_option(d_k) -> Option:
    r"""``scale=None``: the factor of ``Q K^\top``, ``1/\sqrt{d_k}`` unless given."""
    return Option("scale", 1 / sp.sqrt(d_k), rf"\frac{{1}}{{\sqrt{{{sp.latex(d_k)}}}}}", "None",
                  f"1.0 / np.sqrt({d_k}) if scale is None else float(scale)")


def eps_option(eps=1e-5) -> Option:
    r"""``eps=1e-5``: the ``\epsilon`` under the square root of a layer norm."""
    return Option("eps", sp.nsimplify(eps), r"\epsilon", repr(float(eps)), "_positive_number(eps, 'eps')")


def causal_option(causal: bool = False) -> Option:
    """``causal=False``: whether a row-wise softmax is masked causally (a yes/no, never free)."""
    return Option("causal", int(bool(causal)), r"\text{causal}", str(bool(causal)), "_yes_no(causal, 'causal')",
                  free=False)


HELPERS["_positive_number("] = '''


def _positive_number(value, name):
    """``value`` as a positive finite float (a ValueError naming the keyword otherwise)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    return float(value)
'''

HELPERS["_yes_no("] = '''


def _yes_no(value, name):
    """``value`` as a bool: True, False (or NumPy's), 1 or 0; a ValueError naming the keyword otherwise."""
    if isinstance(value, (bool, np.bool_)) or value in (0, 1) and isinstance(value, (int, np.integer)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, not {value!r}")
'''


# ---------------------------------------------------------------------------------------------
# Row sums and row means.


class RowSum(MatrixExpr):
    r"""``\operatorname{rowsum}(A) = A \mathbf{1}``: the n x 1 column of the row sums of an n x m matrix."""

    def __new__(cls, arg):
        return MatrixExpr.__new__(cls, _sympify(arg))

    @property
    def arg(self) -> MatrixExpr:
        return self.args[0]

    @property
    def shape(self):
        return (self.arg.shape[0], sp.S.One)


class RowMean(RowSum):
    r"""``\operatorname{mean}(A) = A \mathbf{1} / m``: the n x 1 column of the row means of an n x m matrix."""


def spread(column, like) -> MatrixExpr:
    r"""The n x 1 ``column`` spread over the columns of ``like``: ``column \mathbf{1}^\top``."""
    return MatMul(column, sp.OneMatrix(1, like.shape[1]))


@defvjp(RowSum, r"y = \operatorname{rowsum}(A) \;\Rightarrow\; \bar A = \bar y\, \mathbf{1}^\top")
def _row_sum_vjp(node, g, ans, functions):
    return [(node.arg, spread(g, node.arg))]


@defvjp(RowMean, r"y = \operatorname{mean}(A) \;\Rightarrow\; \bar A = \tfrac{1}{m}\, \bar y\, \mathbf{1}^\top")
def _row_mean_vjp(node, g, ans, functions):
    return [(node.arg, MatMul(1 / node.arg.shape[1], spread(g, node.arg)))]


def row_sums(ev, value):
    """``value 1`` on any backend."""
    return ev.backend.matmul(value, ev.backend.full((value.shape[1], 1), 1))


@evaluate_node.register
def _evaluate_row_sum(e: RowSum, ev):
    sums = row_sums(ev, ev(e.arg))
    return sums * ev.backend.scalar(sp.Rational(1, ev.size(e.arg.shape[1]))) if isinstance(e, RowMean) else sums


# ---------------------------------------------------------------------------------------------
# The row-wise softmax.


class SoftmaxRows(Normalised):
    r"""``\operatorname{softmax}_{\text{row}}(S)_{ij} = m_{ij} e^{S_{ij}} / \sum_k m_{ik} e^{S_{ik}}`` with the
    mask ``m_{ij} = [j \le i]`` when ``causal`` is a causal :class:`Option` that is on, else ``m = 1``."""

    word = "row-wise softmax"

    def __new__(cls, arg, causal=None):
        arg = _sympify(arg)
        if not getattr(arg, "is_Matrix", False):
            raise ModelError(f"the row-wise softmax takes a matrix, not {arg}")
        return MatrixExpr.__new__(cls, arg, causal_option() if causal is None else causal)

    @property
    def causal(self) -> Option:
        return self.args[1]


@defvjp(SoftmaxRows, r"P = \operatorname{softmax}_{\text{row}}(S) \;\Rightarrow\; \bar S = P \odot \left(\bar P - "
                     r"\operatorname{rowsum}(\bar P \odot P)\, \mathbf{1}^\top\right)")
def _softmax_rows_vjp(node, g, ans, functions):
    """Each row's ``diag(p) - p p^T`` applied without forming it; a masked entry has p = 0, so the rule holds
    for the causal softmax as written."""
    return [(node.arg, hadamard(ans, g - spread(RowSum(hadamard(g, ans)), g)))]


@shape_conflict.register
def _softmax_rows_shapes(e: SoftmaxRows):
    return None  # any matrix: each row is normalised on its own


@row_form.register
def _row_softmax_rows(e: SoftmaxRows):
    raise OptionError("a row-wise softmax is written for rows as tokens; print it in the model's own layout")


def causal_mask(ev, rows: int, cols: int):
    """``m_{ij} = [j <= i]`` (PyTorch's ``is_causal``: ones on and below the diagonal)."""
    return ev.backend.array(np.tril(np.ones((rows, cols))), rows, cols)


@evaluate_node.register
def _evaluate_softmax_rows(e: SoftmaxRows, ev):
    backend = ev.backend
    exps = backend.apply("exp", ev(e.arg))
    if ev(e.causal):
        exps = backend.hadamard(exps, causal_mask(ev, *exps.shape))
    return backend.matmul(backend.diag(backend.power(row_sums(ev, exps), -1)), exps)


# ---------------------------------------------------------------------------------------------
# Normalising each row (the heart of a layer norm).


class NormalizeRows(MatrixExpr):
    r"""``\hat X = (X - \mu 1^\top) \oslash (\sqrt{\sigma^2 + \epsilon}\, 1^\top)`` per row, with ``\mu`` and
    ``\sigma^2`` each row's mean and (biased) variance, ``\epsilon`` an :class:`Option`."""

    def __new__(cls, arg, eps=None):
        arg = _sympify(arg)
        if not getattr(arg, "is_Matrix", False) or arg.shape[1] == 1:
            raise ModelError(f"a layer norm normalises the rows of a matrix, not the {shape_text(arg.shape)} {arg}")
        return MatrixExpr.__new__(cls, arg, eps_option() if eps is None else eps)

    @property
    def arg(self) -> MatrixExpr:
        return self.args[0]

    @property
    def eps(self) -> Option:
        return self.args[1]

    @property
    def shape(self):
        return self.arg.shape


class InvStd(RowSum):
    r"""``1/\sqrt{\sigma^2 + \epsilon}``: the n x 1 column of each row's inverse standard deviation."""

    def __new__(cls, arg, eps):
        return MatrixExpr.__new__(cls, _sympify(arg), eps)

    @property
    def eps(self) -> Option:
        return self.args[1]


@defvjp(NormalizeRows, r"\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \;\Rightarrow\; \bar x = "
                       r"\frac{1}{\sqrt{\sigma^2 + \epsilon}} \left(\bar{\hat x} - \operatorname{mean}(\bar{\hat x})"
                       r" - \hat x \odot \operatorname{mean}(\bar{\hat x} \odot \hat x)\right)")
def _normalize_rows_vjp(node, g, ans, functions):
    inner = g - spread(RowMean(g), g) - hadamard(ans, spread(RowMean(hadamard(g, ans)), g))
    return [(node.arg, hadamard(spread(InvStd(node.arg, node.eps), g), inner))]


def inverse_deviations(ev, x, eps):
    """``(centred x, 1/sqrt(var + eps))``: each row minus its mean, and the column of inverse deviations."""
    backend, cols = ev.backend, x.shape[1]
    per_column = backend.scalar(sp.Rational(1, cols))
    centred = x - backend.matmul(row_sums(ev, x) * per_column, backend.full((1, cols), 1))
    variance = row_sums(ev, backend.hadamard(centred, centred)) * per_column
    shifted = variance + backend.full((x.shape[0], 1), 1) * ev(eps)
    return centred, backend.power(backend.apply("sqrt", shifted), -1)


@evaluate_node.register
def _evaluate_normalize_rows(e: NormalizeRows, ev):
    centred, inverse = inverse_deviations(ev, ev(e.arg), e.eps)
    return ev.backend.matmul(ev.backend.diag(inverse), centred)


@evaluate_node.register
def _evaluate_inv_std(e: InvStd, ev):
    return inverse_deviations(ev, ev(e.arg), e.eps)[1]


@row_form.register(RowSum)
@row_form.register(NormalizeRows)
def _row_row_nodes(e):
    raise OptionError(f"{type(e).__name__} is written for rows as tokens; print it in the model's own layout")
