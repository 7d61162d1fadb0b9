r"""How the nodes of a parsed claim evaluate: ``evaluate_node`` registrations, one block per node type.

A claim is evaluated by the engine's reference interpreter (``symderive.ops.registry.evaluate_node``)
in a :class:`~symderive.judge.context.ClaimEvaluation`. Sums and products of a claim are SymPy's
``Add`` and ``Mul``, evaluated by their registrations in ``symderive/ops/linear.py`` (through the
operators of :class:`~symderive.judge.values.Value`: ``*`` is the matrix product). The nodes below are
the ones only a claim has: the reader's operations (``transpose``, ``hadamard``, ``partial``,
``norm``, ``concat``, ``entry``), symbols and indexed symbols, powers, ``\sum``, ``\prod``,
``\delta_{ij}`` and function calls. In a model's evaluation (any other context) these types keep the
default rule.
"""
from __future__ import annotations

import math
from functools import reduce

import numpy as np
import sympy as sp

from symderive.errors import ModelError
from symderive.judge import values
from symderive.judge.context import ClaimEvaluation
from symderive.judge.derivatives import derivative
from symderive.judge.values import NOTHING, Eye, NotApplicable, NumericOnly, Value
from symderive.latex.parsed import IDENTITY, ONES, concat, entry, hadamard, is_plain_number, norm, partial, transpose
from symderive.latex.words import activation_of, activation_words
from symderive.ops.registry import evaluate_node


def claim_rule(*types):
    """Register the decorated rule as the evaluation of ``types`` in a claim; in any other context
    (a model's evaluation) these types keep the default rule."""

    def register(rule):
        for cls in types:
            evaluate_node.register(cls, claim_or(rule, evaluate_node.dispatch(cls)))
        return rule

    return register


def claim_or(rule, model_rule):
    """``rule`` in a claim, ``model_rule`` (the op's own evaluation, or the default) in a model's evaluation."""
    def evaluate(e, ev):
        return rule(e, ev) if isinstance(ev, ClaimEvaluation) else model_rule(e, ev)

    return evaluate


# ---------------------------------------------------------------------------------------------
# Symbols.


@claim_rule(sp.Symbol)
def _evaluate_symbol(e, ev):
    r"""``I`` (the identity of any size), ``\mathbf{1}`` (1 in every entry), an index letter used
    as a number, or a value of the model."""
    if e == IDENTITY:
        return Eye()
    if e == ONES:
        return values.OnesColumn()
    if e.is_commutative:
        return ev.letter(e)
    return ev.symbol(e)


@claim_rule(sp.Indexed)
def _evaluate_indexed(e, ev):
    r"""``h_{t-1}``, ``\delta_t``: a value at a step, or a definition at an index value."""
    return ev.symbol(e)


# ---------------------------------------------------------------------------------------------
# Transposes, entrywise products and powers.


@claim_rule(transpose)
def _evaluate_transpose(e, ev):
    """``A^T``; ``\\mathbf{1}^\\top`` is the row of ones of whatever length it meets."""
    return values.OnesRow() if e.args[0] == ONES else ev(e.args[0]).T


@claim_rule(hadamard)
def _evaluate_hadamard(e, ev):
    return reduce(values.hadamard, map(ev, e.args))


@claim_rule(sp.Pow)
def _evaluate_power(e, ev):
    """``a^p`` for a number ``p`` written out, entry by entry (``h_t^2``); ``1/x`` of an array is refused."""
    base, p = ev(e.base), e.exp
    if not is_plain_number(p):
        raise ModelError(f"only powers that are numbers written out are supported: {e}")
    if base.is_array and p == -1:
        raise ModelError(f"write 1/x entrywise as x^{{\\circ -1}} is not supported: {e}")
    return values.power(base, p, ev.symbolic)


@claim_rule(norm)
def _evaluate_norm(e, ev):
    r"""``\|v\| = \sqrt{\sum_i v_i^2}`` (Frobenius for a matrix); nothing has norm 0."""
    v = ev(e.args[0])
    x = 0 if v is NOTHING else values.data(v)
    if values.is_array(x):
        total = sum(y * y for y in (list(x) if ev.symbolic else np.ravel(x)))
    else:
        total = x * x
    return Value(sp.sqrt(total) if ev.symbolic else math.sqrt(total))


# ---------------------------------------------------------------------------------------------
# Derivatives.


@claim_rule(partial)
def _evaluate_partial(e, ev):
    """``∂A/∂B`` from the derived backward program (see :mod:`symderive.judge.derivatives`); nothing
    (a zero) where it denotes no derivative: of or by a value outside the steps 1..T (``∂L/∂o_0``), or
    ``∂h_t/∂h_i`` with i > t; evaluated once per value of its index letters."""
    at = ("partial", e.xreplace({k: sp.Integer(v) for k, v in ev.binding.items()}))
    if at not in ev.memo:  # a product of Jacobians meets the same one once per term
        try:
            ev.memo[at] = ev.laid_out(Value(derivative(e, ev)))
        except NotApplicable:
            ev.memo[at] = NOTHING
    return ev.memo[at]


# ---------------------------------------------------------------------------------------------
# Sums and products over an index.


@claim_rule(sp.Sum)
def _evaluate_sum(e, ev):
    r"""``\sum_{k=lo}^{hi} body``: the body with k bound to each value in turn; 0 when empty."""
    body, (var, lo, hi) = e.function, e.limits[0]
    out = Value(0)
    for k in ev.index_range("a sum", lo, hi):
        v = ev.bound({**ev.binding, var: k})(body)
        out = v if is_zero_int(out) else out + v
    return out


def is_zero_int(v: Value) -> bool:
    """The integer 0 a sum starts from: the next term replaces it (a sum of matrices never adds 0)."""
    return isinstance(v.data, int) and v.data == 0


@claim_rule(sp.Product)
def _evaluate_product(e, ev):
    r"""``\prod_{j=lo}^{hi} body`` in chain-rule order: the factor with the largest index on the left, in the
    row layout on the right (the option ``ascending`` reads it the other way); the identity when empty."""
    body, (var, lo, hi) = e.function, e.limits[0]
    values = ev.index_range("a product", lo, hi)
    order = values if bool(ev.options.get("ascending")) != bool(ev.options.get("row")) else reversed(values)
    out = Eye()
    for k in order:
        out = out * ev.bound({**ev.binding, var: k})(body)
    return out


@claim_rule(sp.KroneckerDelta)
def _evaluate_kronecker_delta(e, ev):
    r"""``\delta_{ij}``: 1 when the indices are equal, else 0."""
    i, j = (ev(a).data for a in e.args)
    return Value(1 if i == j else 0)


# ---------------------------------------------------------------------------------------------
# Stacking and entries.


@claim_rule(concat)
def _evaluate_concat(e, ev):
    """``[a; b]``: the parts (matrices of as many columns) stacked; nothing where a part lies outside the
    steps 1..T."""
    parts = [ev(a) for a in e.args]
    if any(p is NOTHING for p in parts):
        return NOTHING
    arrays = [values.data(p) for p in parts]
    if not all(p.is_array for p in parts) or len({p.shape[1] for p in parts}) != 1:
        raise values.Misshaped(f"cannot stack shapes {', '.join(values.fmt(p.shape) for p in parts)}")
    return Value(ev.backend.stack(arrays))


@claim_rule(entry)
def _evaluate_entry(e, ev):
    """``f(z)_i`` (1-based): one entry of a vector, or ``A_{ij}`` of a matrix."""
    v = ev(e.args[0])
    if v is NOTHING:
        return NOTHING
    return Value(values.data(v)[entry_position(e, v, [whole(ev(a).data) for a in e.args[1:]])])


def entry_position(e, v: Value, idx: list) -> tuple:
    """The 0-based position of the 1-based entry ``idx`` of ``v``: ``(i,)`` of a vector (a column or a
    row), ``(i, j)`` of a matrix."""
    shape = v.shape
    if len(idx) == 1 and len(shape) == 2 and 1 in shape:
        idx = [idx[0], 1] if shape[1] == 1 else [1, idx[0]]
    if len(idx) != len(shape) or not all(k is not None and 1 <= k <= n for k, n in zip(idx, shape)):
        raise ModelError(f"{e} is not an entry of a value of shape {values.fmt(shape)} (entries count from 1)")
    return tuple(k - 1 for k in idx)


def whole(k) -> int | None:
    """The integer ``k`` denotes (an index letter's value, or a number written as an index); else None."""
    try:
        f = float(k)
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None


# ---------------------------------------------------------------------------------------------
# Function calls.


def _diag(v: Value, ev) -> Value:
    r"""``\operatorname{diag}(v)``: the vector on the diagonal of a square matrix."""
    if v is NOTHING:
        return NOTHING
    x = values.data(v)
    return Value(sp.diag(*(list(x) if v.is_array else [x])) if ev.symbolic else np.diag(np.ravel(x)))


def _softmax(v: Value, ev) -> Value:
    """``softmax(z)_i = e^{z_i} / sum_j e^{z_j}`` per column (checked numerically only)."""
    if ev.symbolic:
        raise NumericOnly("softmax is checked in float64 only")
    if v is NOTHING or not v.is_array:
        raise ModelError("softmax applies to a vector")
    w = np.exp(v.data - v.data.max(axis=0))
    return Value(w / w.sum(axis=0))


def row_reduction(reduce_numeric, reduce_symbolic):
    """A claim's function of a matrix giving one number per row, an n x 1 column (``rowsum``, ``mean``, ``var``)."""
    def call(v: Value, ev) -> Value:
        if v is NOTHING or not v.is_array:
            raise ModelError("rowsum, mean and var take a matrix (one number per row)")
        if ev.symbolic:
            return Value(sp.Matrix([[reduce_symbolic(list(v.data.row(i)))] for i in range(v.data.rows)]))
        return Value(reduce_numeric(np.asarray(v.data, dtype=float)))

    return call


def _mean(row):
    return sum(row) / len(row)


def _variance(row):
    """The biased variance of a row (as a layer norm takes it)."""
    return _mean([(e - _mean(row)) ** 2 for e in row])


CALLS = {"diag": _diag, "softmax": _softmax,
         "rowsum": row_reduction(lambda x: x.sum(axis=1, keepdims=True), sum),
         "mean": row_reduction(lambda x: x.mean(axis=1, keepdims=True), _mean),
         "var": row_reduction(lambda x: x.var(axis=1, keepdims=True), _variance)}


@claim_rule(sp.Function)
def _evaluate_call(e, ev):
    """``f(z)`` of an elementwise function (``f'(z)`` when primed), ``diag(v)`` or ``softmax(z)``."""
    name = type(e).__name__
    fname = name.rstrip("'")
    if fname in CALLS:
        return CALLS[fname](ev(e.args[0]), ev)
    if activation_of(fname):
        return ev.apply(activation_of(fname), ev(e.args[0]), len(name) - len(fname))
    raise ModelError(f"{fname}(...) is not a known function: use one of {', '.join(activation_words())}, "
                     "diag, softmax, rowsum, mean, var (an unspecified f(...) cannot be evaluated)")
