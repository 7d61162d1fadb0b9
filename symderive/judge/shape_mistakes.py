r"""A claim whose shapes do not fit is a wrong claim: why, named.

``\frac{\partial L}{\partial x} = W (a - y)`` cannot even be multiplied out when ``W`` is 2 x 3; the right side
is then not a value at all, but the mistake is the reader's usual one, a transpose left out (often with a
second mistake beside it: here the derivative of σ is missing too). The clash is named with both shapes; then
the claim with one matrix transposed (every place it appears), or its transpose undone, or one product of
matrices reordered, is tried: a variant that holds names the mistake; a variant whose shapes fit and that a
usual mistake of :mod:`symderive.judge.diagnose` explains names both.
"""
from __future__ import annotations

from symderive.errors import SymderiveError
from symderive.judge.compare import Claim, Comparison, compare_at
from symderive.judge.conditions import matches
from symderive.judge.diagnose import (
    MAX_SYMBOLS,
    UNEXPLAINED,
    diagnose,
    factor_order_trial,
    matrix_symbols,
    products,
    reorderings,
    symbol_transpose_trial,
    transpose_message,
)
from symderive.judge.notation import written
from symderive.judge.values import NotApplicable
from symderive.latex.parsed import partial, transpose


def shape_diagnosis(claim: Claim, points: list, clash: str) -> str:
    """The diagnosis of a claim whose shapes do not fit: ``clash`` (the two shapes), and the usual mistake that
    explains it, alone or with one more."""
    head = f"the shapes do not fit ({clash})"
    alone = symbol_transpose_trial(claim, points) or factor_order_trial(claim, points)
    if not alone:
        alone = transposed_derivative_trial(claim, points)
    if alone:
        return f"{head}: {alone}"
    for mistake, variant in variants(claim):
        if fits(variant, points):
            other = diagnose(variant, points)
            if other != UNEXPLAINED:
                return f"{head}: {mistake}; with that corrected, {other}"
    return head


def transposed_derivative_trial(claim: Claim, points: list) -> str:
    r"""A derivative in the claim (``\bar S``, ``\frac{\partial L}{\partial S}``) transposed matches."""
    return next((mistake for mistake, variant in derivative_transposes(claim) if matches(variant, points)), "")


def variants(claim: Claim):
    """(the mistake undone, the claim with it undone): each matrix and derivative transposed, each product
    of matrices reordered."""
    for symbol in sorted(matrix_symbols(claim.rhs), key=str)[:MAX_SYMBOLS]:
        flipped = claim.rhs.xreplace({symbol: transpose(symbol), transpose(symbol): symbol})
        yield transpose_message(symbol, claim.rhs), claim.with_rhs(flipped)
    yield from derivative_transposes(claim)
    for product in products(claim.rhs):
        for reordered in reorderings(product):
            yield (f"the factors ${written(product)}$ are in the wrong order: ${written(reordered)}$",
                   claim.with_rhs(claim.rhs.xreplace({product: reordered})))


def derivative_transposes(claim: Claim):
    """(the mistake, the claim with one derivative of its right side transposed or its transpose undone)."""
    for d in sorted(claim.rhs.atoms(partial), key=str):
        flipped = claim.rhs.xreplace({d: transpose(d), transpose(d): d})
        yield transpose_message(d, claim.rhs), claim.with_rhs(flipped)


def fits(claim: Claim, points: list) -> bool:
    """Does the claim evaluate at every point to a value of the derivative's shape?"""
    comparison = Comparison()
    try:
        for point in points:
            compare_at(claim, point, out=comparison)
    except (SymderiveError, NotApplicable, ValueError, TypeError):
        return False
    return comparison.compared > 0 and comparison.misshaped is None
