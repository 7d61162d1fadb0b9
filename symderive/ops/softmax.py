r"""Normalising nodes: the sum of a vector's entries, softmax and log-softmax, each registered once.

* :class:`SumEntries` -- the scalar ``1^\top v = \sum_i v_i`` (a loss of its own; :class:`SumFactor` in a rule,
  the ``(\bar s^\top s)`` of ``(\bar s^\top s)\, 1``);
* :class:`Softmax` -- ``softmax(v)_i = e^{v_i} / \sum_j e^{v_j}``;
* :class:`LogSoftmax` -- ``log softmax(v)_i = v_i - \log \sum_j e^{v_j}``.

Softmax and log-softmax normalise over the entries of a vector, a column (n x 1) or a row (1 x n):
a row-convention model writes ``\hat y_t = \operatorname{softmax}(o_t)`` with ``o_t`` a row. A matrix is
refused here; the softmax of each row of a matrix (attention) is :class:`symderive.ops.rows.SoftmaxRows`.

Their VJP rules are the compact forms (with ``s = softmax(z)``, ``\bar s = dL/ds``):

    softmax:      \bar z = s \odot (\bar s - (\bar s^\top s) 1)      (the Jacobian is diag(s) - s s^\top)
    log-softmax:  \bar z = \bar p - softmax(z) (1^\top \bar p)       (the Jacobian is I - 1 softmax(z)^\top)

In the row convention the same expressions hold with ``\bar s s^\top`` and ``\bar p 1`` for the sums.
"""
from __future__ import annotations

import sympy as sp
from sympy import Expr, MatMul, MatrixExpr
from sympy.core.sympify import _sympify
from sympy.printing.precedence import PRECEDENCE

from symderive.errors import ModelError
from symderive.ops.nodes import Elementwise, hadamard, ones
from symderive.ops.registry import defvjp, evaluate_node, is_row_vector, row_form, shape_conflict, shape_text


def refuse_matrix(what: str, v) -> str | None:
    """Why ``what(v)`` cannot be taken (``v`` is a matrix, not a vector), or None."""
    rows, cols = v.shape
    if rows == 1 or cols == 1:
        return None
    return (f"{what} takes a vector (n x 1, or 1 x n in the row convention), not the {shape_text(v.shape)} "
            f"matrix {v}; the softmax of each row of a matrix is sd.softmax(v, rows=True)")


class SumEntries(Expr):
    r"""The scalar ``1^\top v = \sum_i v_i`` of a vector (of a matrix: the sum of all its entries).

    A numeric factor comes out (``1^\top (c v) = c\, 1^\top v``), so rules stay readable. Printed in a product
    or a power it takes parentheses (``2 (y^\top p)``, ``(y^\top p)^2``), negated or summed not (``-y^\top p``)."""

    is_commutative = True
    precedence = PRECEDENCE["Add"]

    def __new__(cls, arg):
        arg = _sympify(arg)
        if isinstance(arg, sp.ZeroMatrix):
            return sp.S.Zero
        if isinstance(arg, MatMul):
            coeff, factors = arg.as_coeff_matrices()
            if coeff.is_number and coeff != 1:
                return coeff * cls(MatMul(*factors).doit())
        return Expr.__new__(cls, arg)

    @property
    def arg(self) -> MatrixExpr:
        return self.args[0]


class SumFactor(SumEntries):
    r"""``1^\top v`` as the scalar factor of a vector in a rule (``(1^\top y) \operatorname{softmax}(o)``), printed
    in parentheses; otherwise a :class:`SumEntries`."""


SUM_RULE = r"y = \mathbf{1}^\top v \;\Rightarrow\; \bar v = \bar y\, \mathbf{1}"


@defvjp(SumFactor, SUM_RULE)
@defvjp(SumEntries, SUM_RULE)
def _sum_entries_vjp(node, g, ans, functions):
    return [(node.arg, MatMul(g, ones(node.arg)).doit())]


@row_form.register
def _row_sum_entries(e: SumEntries):
    return type(e)(row_form(e.arg))


@evaluate_node.register
def _evaluate_sum_entries(e: SumEntries, ev):
    return ev.backend.total(ev(e.arg))


class Normalised(MatrixExpr):
    """A vector normalised over its entries (softmax, log-softmax); the value has the shape of its argument."""

    word = ""

    def __new__(cls, arg):
        arg = _sympify(arg)
        refusal = refuse_matrix(cls.word, arg) if getattr(arg, "is_Matrix", False) else f"{cls.word} takes a vector"
        if refusal:
            raise ModelError(refusal)
        return MatrixExpr.__new__(cls, arg)

    @property
    def arg(self) -> MatrixExpr:
        return self.args[0]

    @property
    def shape(self):
        return self.arg.shape


class Softmax(Normalised):
    r"""``softmax(v)_i = e^{v_i} / \sum_j e^{v_j}`` over the entries of a vector (column or row)."""

    word = "softmax"


class LogSoftmax(Normalised):
    r"""``\log softmax(v)_i = v_i - \log \sum_j e^{v_j}`` over the entries of a vector (column or row)."""

    word = "log-softmax"


@shape_conflict.register
def _normalised_shapes(e: Normalised):
    return refuse_matrix(e.word, e.arg)


@row_form.register
def _row_normalised(e: Normalised):
    return type(e)(row_form(e.arg))


@defvjp(Softmax, r"s = \operatorname{softmax}(z) \;\Rightarrow\; \bar z = s \odot \left(\bar s - (\bar s^\top s)\,"
                 r"\mathbf{1}\right)",
        row=r"s = \operatorname{softmax}(z) \;\Rightarrow\; \bar z = s \odot \left(\bar s - (\bar s\, s^\top)\,"
            r"\mathbf{1}\right)")
def _softmax_vjp(node, g, ans, functions):
    """``diag(s) - s s^T`` applied to g without forming it: ``s ⊙ g - s (s^T g)``."""
    return [(node.arg, hadamard(ans, g - MatMul(SumFactor(hadamard(g, ans)), ones(g)).doit()))]


@defvjp(LogSoftmax, r"p = \log\operatorname{softmax}(z) \;\Rightarrow\; \bar z = \bar p - "
                    r"\operatorname{softmax}(z)\,(\mathbf{1}^\top \bar p)",
        row=r"p = \log\operatorname{softmax}(z) \;\Rightarrow\; \bar z = \bar p - "
            r"(\bar p\, \mathbf{1})\operatorname{softmax}(z)")
def _log_softmax_vjp(node, g, ans, functions):
    """``(I - 1 softmax(z)^T)^T g = g - softmax(z) (1^T g)``: through softmax(z), not through e^p (the same
    values, but the softmax node says what it is)."""
    return [(node.arg, g - MatMul(SumFactor(g), Softmax(node.arg)).doit())]


# ---------------------------------------------------------------------------------------------
# Reference evaluation, on NumPy arrays, explicit SymPy matrices and torch tensors alike: only the
# interpreter's backend operations (exp and log entry by entry, the sum of entries, a reciprocal as
# a power, matrix products), so the symbolic proof sees e^{v_i} and 1/sum as its atoms.


def normalised_entries(v, ev):
    """``(e^{v}, S)``: the exponentials and their sum as a 1 x 1 matrix (the entries normalised together)."""
    backend = ev.backend
    exps = backend.apply("exp", v)
    return exps, backend.full((1, 1), 1) * backend.total(exps)


def spread(v, scalar, ev):
    """The 1 x 1 matrix ``scalar`` times the vector ``v`` (``v c`` for a column, ``c v`` for a row)."""
    return ev.backend.matmul(scalar, v) if is_row_vector(v.shape) else ev.backend.matmul(v, scalar)


@evaluate_node.register
def _evaluate_softmax(e: Softmax, ev):
    exps, total = normalised_entries(ev(e.arg), ev)
    return spread(exps, ev.backend.power(total, -1), ev)


@evaluate_node.register
def _evaluate_log_softmax(e: LogSoftmax, ev):
    v = ev(e.arg)
    total = normalised_entries(v, ev)[1]
    return v - spread(ev.backend.full(tuple(v.shape), 1), ev.backend.apply("log", total), ev)


def fuse_log_softmax(assignments: tuple, loss) -> tuple:
    r"""``(assignments, loss)`` with ``\log p`` read as ``\operatorname{log\,softmax}(z)`` wherever ``p`` is a value
    defined as ``\operatorname{softmax}(z)`` (at any step ``t + k``): the same number, computed stably, and the rule
    ``\bar z = \bar\ell - \operatorname{softmax}(z)(\mathbf{1}^\top \bar\ell)`` instead of a softmax's rule applied to
    ``\bar\ell \oslash p``, which no one can read. ``p`` keeps its definition (a forward value of its own)."""
    softmaxes = {a.target.name: a for a in assignments if isinstance(a.expr, Softmax)}

    def read_softmax(node):
        """``p`` or ``p^T`` for a softmax value p, as (p, transposed); else None."""
        inner = node.args[0] if isinstance(node, sp.Transpose) else node
        return (inner, inner is not node) if getattr(inner, "name", None) in softmaxes else None

    def fused(node):
        p, transposed = read_softmax(node.args[1])
        log_softmax = LogSoftmax(definition_at(softmaxes[p.name], p).arg)
        return sp.Transpose(log_softmax) if transposed else log_softmax

    def is_log_of_softmax(node) -> bool:
        return isinstance(node, Elementwise) and node.fname == "log" and read_softmax(node.args[1]) is not None

    def rewrite(expr):
        return expr.replace(is_log_of_softmax, fused) if softmaxes else expr

    return tuple(type(a)(a.target, rewrite(a.expr)) for a in assignments), rewrite(loss)


def definition_at(assignment, value):
    """The expression ``assignment`` defines, at the step of ``value`` (the target itself, or it at t + k)."""
    if not hasattr(value, "time"):
        return assignment.expr
    return assignment.expr.xreplace({assignment.target.time: value.time})


def softmax_names(program, expr):
    r"""``expr`` with every ``\operatorname{softmax}(z)`` the model names (``p = softmax(z)``, at step t + k for
    k = -1, 0, 1) written as that value: the logits' adjoint reads ``(\mathbf{1}^\top y)\, p - y`` in the notes'
    own letters, and the export reuses ``p`` instead of computing the softmax again."""
    named = [a for a in program.assignments if isinstance(a.expr, Softmax)]
    if not named or not expr.has(Softmax):
        return expr
    values = {node: softmax_value(named, node) for node in expr.atoms(Softmax)}
    return expr.xreplace({node: value for node, value in values.items() if value is not None})


def softmax_value(named: list, node):
    """The value (at its step) whose definition is the softmax ``node``, or None."""
    for a in named:
        steps = [a.target.at(a.target.time + k) for k in (0, -1, 1)] if hasattr(a.target, "time") else [a.target]
        for value in steps:
            if definition_at(a, value) == node:
                return value
    return None
