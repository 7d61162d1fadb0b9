r"""The tests every diagnosis is made of: does a changed claim hold at every point (:func:`matches`), does the
claim hold under a condition many notes assume (every initial state 0; every cross-entropy target summing to 1),
is it off by a constant factor or by the 1/T of a mean over steps."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from symderive.errors import SymderiveError
from symderive.judge.compare import Claim, Comparison, compare_at, pairs
from symderive.judge.point import Point, cross_entropy_targets
from symderive.judge.values import NotApplicable


def matches(claim: Claim, points: list[Point], options=None, truth_points=None, transform=None) -> bool:
    """Does the claim (its right side read with ``options``, then ``transform``-ed) equal the derivative
    (at ``truth_points``, default the same points) at every point?"""
    for i, point in enumerate(points):
        c = Comparison()
        truth_point = truth_points[i] if truth_points else None
        try:
            compare_at(claim, point, options, truth_point, out=c, transform=transform)
        except (SymderiveError, NotApplicable, ValueError, TypeError):
            return False
        if c.compared == 0 or c.worst > 1e-7:
            return False
    return True


def zero_start_trial(claim: Claim, points: list[Point]) -> bool:
    """Does the claim hold when the model starts from zero (``h_0 = 0``, as many notes assume)?"""
    program = points[0].subject.program
    if not program.recurrent or not program.states:
        return False
    zero = [p.variant(zero_start=True) for p in points]
    return matches(claim, zero)


def normalised_targets_trial(claim: Claim, points: list[Point]) -> bool:
    """Does the claim hold when every cross-entropy target sums to 1 (``p - y``, as notes with one-hot y write)?"""
    if not cross_entropy_targets(points[0].subject.program):
        return False
    return matches(claim, [p.variant(normalised=True) for p in points])


def factor_trial(claim, points) -> str:
    """A constant c with c * RHS = the derivative at every point (least squares, then checked); or c / T, a mean
    over the steps forgotten or added (the ratio times T the same at size cases of different T, exactly)."""
    ratios = factor_ratios(claim, points)
    if not ratios:
        return ""
    constant = [r for r, _, _ in ratios]
    if same(constant) and abs(constant[0] - 1) > 1e-9 and matches(claim, points, transform=lambda x: constant[0] * x):
        shown = fraction_text(constant[0])
        return f"off by a factor of {shown}: the right-hand side times {shown} is correct"
    per_step = [r * steps for r, steps, _ in ratios]
    if len({steps for _, steps, _ in ratios}) > 1 and same(per_step) and all(e < 1e-9 for _, _, e in ratios):
        shown = "1/T" if abs(per_step[0] - 1) < 1e-9 else f"{fraction_text(per_step[0])}/T"
        return f"off by a factor of {shown} (the mean over the steps): the right-hand side times {shown} is correct"
    return ""


def same(values: list[float]) -> bool:
    return max(values) - min(values) <= 1e-6 * max(1.0, abs(values[0]))


def fraction_text(c: float) -> str:
    fraction = Fraction(c).limit_denominator(12)
    return str(fraction) if abs(float(fraction) - c) < 1e-9 else f"{c:.6g}"


def factor_ratios(claim, points) -> list[tuple[float, int, float]]:
    """(least-squares ratio derivative / claim, the number of steps, the relative residual of that fit) for every
    compared value; [] when a claimed value is zero or the sizes differ."""
    ratios = []
    try:
        for point in points:
            for _, claimed, truth in pairs(claim, point):
                claimed, truth = np.ravel(np.asarray(claimed, dtype=float)), np.ravel(np.asarray(truth, dtype=float))
                if claimed.size != truth.size or not np.any(claimed):
                    return []
                c = float(np.sum(claimed * truth) / np.sum(claimed * claimed))
                residual = float(np.linalg.norm(c * claimed - truth) / max(np.linalg.norm(truth), 1e-300))
                ratios.append((c, point.steps, residual))
    except (SymderiveError, ValueError, TypeError):
        return []
    return ratios
