"""The order in which the factors of an entrywise product are printed, as people write them: the error signal
first, a weight before what it weighs, the model's values in the order it defines them, the derivative factors of a
squashing function last (``f_t \\odot c_{t-1}``, ``(a - y) \\odot a \\odot (1 - a)``). Printing only: the engine's
expressions are not changed."""
from __future__ import annotations

import sympy as sp
from sympy import MatMul

from symderive.model.program import Program, arguments, key
from symderive.ops.nodes import TimeVar

#: ranks of the error signal (an adjoint, or a target the loss compares with), of an argument standing alone (a
#: weight before what it weighs: ``\\gamma \\odot \\hat x``), of the first argument in an expression (after every
#: defined value) and of a name the order lacks
ERROR, WEIGHT, ARGUMENTS, UNRANKED = -1, -0.5, 10**6, float("inf")


def print_order(program: Program) -> dict[str, int]:
    """The rank of each identifier of a model for :func:`factor_rank`: the targets (arguments only the loss
    reads, such as ``y``) ``ERROR``; the values the model defines 0, 1, ... in the order it defines them; the
    other arguments from ``ARGUMENTS`` on, in the order they are declared."""
    read = set().union(*(map(key, a.expr.atoms(sp.MatrixSymbol, TimeVar)) for a in program.assignments))
    args = [key(v) for v in arguments(program)]
    ranks = {key(a.target): k for k, a in enumerate(program.assignments)}
    ranks.update({name: ARGUMENTS + k for k, name in enumerate(args) if name in read})
    loss_reads = {key(v) for v in program.loss.atoms(sp.MatrixSymbol, TimeVar)}
    ranks.update({name: ERROR for name in args if name not in read and name in loss_reads})
    return ranks


def is_value(f) -> bool:
    """A named value (``W``, ``h_t``), not an expression."""
    return isinstance(f, (sp.MatrixSymbol, TimeVar))


def complement(f):
    """``v`` when ``f`` is ``1 - v`` (a sum of the ones and one negated term), else None."""
    if not isinstance(f, sp.MatAdd) or len(f.args) != 2:
        return None
    ones = [a for a in f.args if isinstance(a, (sp.OneMatrix, sp.Identity)) or a == 1]
    rest = [a for a in f.args if a not in ones]
    return -rest[0] if len(ones) == 1 and is_negated(rest[0]) else None


def derivative_factors(factors) -> set:
    """The factors that write the derivative of a squashing function as the rules do: ``s`` and ``1 - s``
    together (``\\sigma' = s \\odot (1 - s)``), and ``1 - y \\odot y`` (``\\tanh' = 1 - y^2``)."""
    out = set()
    for f in factors:
        v = complement(f)
        if v is not None and (v in factors or isinstance(v, sp.HadamardPower) and v.exp == 2):
            out |= {f, v} if v in factors else {f}
    return out


def arrange_factors(factors, order: dict) -> list:
    """The factors of an entrywise product in reading order: the error signal, the other values by the rank of
    the earliest value each holds (:func:`factor_rank`), then the derivatives (:func:`derivative_factors`) by
    rank; within a rank a value before an expression of it, then SymPy's canonical order (a total order)."""
    derivatives = derivative_factors(factors)

    def position(f):
        rank = factor_rank(f, order)
        return (rank != ERROR and f in derivatives, rank, not is_value(f), sp.default_sort_key(f))

    return sorted(factors, key=position)


def factor_rank(f, order: dict) -> float:
    """``ERROR`` for the error signal (:func:`is_error_signal`); else the earliest rank (in ``order``, see
    :func:`print_order`) of the model values the factor holds, its adjoints and targets aside, so that an
    expression of an adjoint ranks by what it scales (``s \\odot (\\bar s - (\\bar s^\\top s) 1)``, as the softmax's
    rule is written); an argument alone ``WEIGHT``, before the values (``\\gamma \\odot \\hat x``). A factor of values
    outside ``order`` ranks last."""
    if is_error_signal(f, order):
        return ERROR
    if is_value(f) and ARGUMENTS <= order.get(key(f), UNRANKED) < UNRANKED:  # an argument alone
        return WEIGHT
    ranks = (order.get(key(v), UNRANKED) for v in f.atoms(sp.MatrixSymbol, TimeVar))
    return min((r for r in ranks if r != ERROR and r != UNRANKED), default=UNRANKED)


def is_error_signal(f, order: dict) -> bool:
    """An adjoint (a ``d_`` name: ``\\bar a``, ``\\delta_t``), a target, or a residual ``v - y``: a difference of
    two terms, one of them a target the loss compares with (``order`` ranks targets ``ERROR``)."""
    if is_value(f):
        return key(f).startswith("d_") or order.get(key(f)) == ERROR
    terms = [-a if is_negated(a) else a for a in f.args] if isinstance(f, sp.MatAdd) else []
    return len(terms) == 2 and any(is_value(v) and order.get(key(v)) == ERROR for v in terms)


def is_negated(e) -> bool:
    return isinstance(e, MatMul) and e.as_coeff_matrices()[0].could_extract_minus_sign()
