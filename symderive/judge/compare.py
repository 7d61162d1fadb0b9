r"""Comparing a claim ``∂A/∂B = RHS`` with the derivation at one point.

Both sides are evaluated by the reference interpreter (:mod:`symderive.judge.evaluate`); free index
letters take every value (``t`` in ``1..T``, other letters in ``0..T``), and values that do not
denote a derivative (``∂h_t/∂h_i`` with i > t) are skipped. The difference is norm-relative; the
first index values where it exceeds :data:`REL_TOL` are kept as a counterexample.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symderive.errors import ModelError
from symderive.judge.context import ClaimEvaluation
from symderive.judge.notation import in_subject_names
from symderive.judge.point import Point, case_text
from symderive.judge.values import NOTHING, final, is_array, is_symbolic
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import is_plain_number, partial
from symderive.latex.reader import parse_sides
from symderive.ops.nodes import T

REL_TOL = 1e-8
#: a difference of a smaller norm is rounding in float64 at the O(1) random points (a derivative that is 0 in exact
#: arithmetic, ``∂L/∂b_k`` of attention, comes out near 1e-17): the relative difference is taken to a scale >= this
ABS_TOL = 1e-12
#: the most free index letters a claim may have (each takes up to T + 1 values)
MAX_FREE_INDICES = 3


@dataclass
class Claim:
    """``lhs = rhs`` as read from ``text``; ``row``: read in the row layout, where every vector is a row and
    every value the transpose of the column form's (the claim's value is transposed back to be compared)."""

    text: str
    lhs: sp.Basic
    rhs: sp.Basic
    row: bool = False

    @property
    def free(self) -> list:
        syms = (self.lhs.free_symbols | self.rhs.free_symbols)
        return sorted((s for s in syms if s.is_commutative and s.is_integer and s != T), key=str)

    def with_rhs(self, rhs) -> "Claim":
        return dataclasses.replace(self, rhs=rhs)

    def in_row_layout(self) -> "Claim":
        return dataclasses.replace(self, row=True)


def read_claim(text: str, subject) -> Claim:
    """``DERIVATIVE = EXPRESSION``, or ``NAME = DERIVATIVE = EXPRESSION`` as the documents define an adjoint
    (``\\bar{o}_{t} = \\frac{\\partial L}{\\partial o_{t}} = ...``); a left side named in a definition
    (``\\delta_t``) reads as its derivative. The documents' notation is read in the subject's names
    (:mod:`symderive.judge.notation`)."""
    sides = [as_derivative(in_subject_names(side, subject), subject.where) for side in parse_sides(text)]
    if len(sides) == 3 and isinstance(sides[1], partial) and sides[0] != sides[1]:
        raise ModelError(f"the name on the left does not denote the derivative beside it: {text}")
    if len(sides) == 3 and isinstance(sides[1], partial):
        sides = sides[1:]
    if len(sides) != 2:
        raise ModelError(f"a claim is 'DERIVATIVE = EXPRESSION': {text}")
    lhs, rhs = sides
    if not isinstance(lhs, partial):
        raise ModelError("the left side of a claim must be a derivative (\\frac{\\partial L}{\\partial W}, "
                         f"\\partial_W L, \\nabla_W L): {text}")
    return Claim(text, lhs, rhs)


def as_derivative(side, where: dict):
    """A name defined as a derivative (``\\delta_t``) as that derivative; any other side unchanged."""
    if is_variable(side) and base_name(side) in where and isinstance(where[base_name(side)][1], partial):
        variables, definition = where[base_name(side)]
        indices = side.indices if isinstance(side, sp.Indexed) else ()
        return definition.xreplace(dict(zip(variables, indices)))
    return side


def bindings(claim: Claim, steps: int):
    """Every value of the claim's free indices: t in 1..T, other letters in 0..T (at most
    :data:`MAX_FREE_INDICES` letters: each one multiplies the values to try)."""
    free = claim.free
    if len(free) > MAX_FREE_INDICES:
        raise ModelError(f"the claim has {len(free)} free index letters ({', '.join(map(str, free))}); "
                         f"at most {MAX_FREE_INDICES} are supported")
    ranges = [range(1, steps + 1) if s.name == "t" else range(0, steps + 1) for s in free]
    for combo in itertools.product(*ranges):
        yield dict(zip(free, combo))


def pairs(claim: Claim, point: Point, options=None, truth_point: Point | None = None):
    """``(binding, claimed, truth)`` for every value of the claim's free indices that denotes a derivative.

    The right-hand side is evaluated at ``point`` (with ``options``), the derivative at ``truth_point``
    (default: the same point), once per value of the letters it has; an identity or out-of-range claimed
    value takes the truth's shape, a claim read in the row layout is transposed to the column form's."""
    options = {**(options or {}), "row": claim.row}
    claimed_at, truth_at = ClaimEvaluation.of(point, options), ClaimEvaluation.of(truth_point or point)
    letters = [s for s in claim.free if s in claim.lhs.free_symbols]
    truths = {}  # the derivative depends on the letters of the left side only
    for binding in bindings(claim, point.steps):
        at = tuple(binding[s] for s in letters)
        if at not in truths:
            truths[at] = truth_at.bound(binding)(claim.lhs)
        truth = truths[at]
        if truth is NOTHING:  # no derivative at these index values (∂h_t/∂h_i with i > t)
            continue
        claimed = claimed_at.bound(binding)(claim.rhs)
        yield binding, final(claimed.T if claim.row else claimed, truth.data), truth.data


def conform(claimed, truth):
    """The claimed value in the truth's shape: a scalar fills it (``∂L/∂b = 0``), a vector of the same
    entries is laid out as the truth is (a row for a column); None when the shapes do not fit."""
    claimed_shape, truth_shape = shape_of(claimed), shape_of(truth)
    if claimed_shape == truth_shape:
        return claimed
    if not claimed_shape:
        return sp.ones(*truth_shape) * claimed if is_symbolic(truth) else np.full(truth_shape, claimed)
    squeezed = [tuple(d for d in shape if d != 1) for shape in (claimed_shape, truth_shape)]
    if squeezed[0] != squeezed[1] or 1 not in claimed_shape:
        return None
    if is_symbolic(claimed):
        return claimed.reshape(*truth_shape) if truth_shape else claimed[0, 0]
    return np.reshape(claimed, truth_shape)


def shape_of(x) -> tuple:
    """The shape of an array (NumPy or SymPy); () for a scalar."""
    return tuple(x.shape) if is_array(x) else ()


def difference(claim, truth) -> float:
    """Norm-relative difference (inf when the shapes differ); below :data:`ABS_TOL` a difference is absolute."""
    a = conform(np.asarray(claim, dtype=float), np.asarray(truth, dtype=float))
    if a is None:
        return math.inf
    b = np.asarray(truth, dtype=float)
    scale = max(float(np.linalg.norm(b)), float(np.linalg.norm(a)), ABS_TOL / REL_TOL)
    return float(np.linalg.norm(a - b)) / scale if (a.size and np.any(a - b)) else 0.0


@dataclass
class Comparison:
    """The worst difference over the values compared, where it was first too large, how many index
    values and entries were compared, and where the claim first had no finite value."""

    worst: float = 0.0
    counterexample: dict | None = None
    compared: int = 0
    entries: int = 0
    not_finite: dict | None = None
    misshaped: tuple | None = None  # (claimed shape, correct shape) where they first did not fit

    @property
    def holds(self) -> bool:
        return self.not_finite is None and self.worst <= REL_TOL


def compare_at(claim: Claim, point: Point, options=None, truth_point: Point | None = None,
               out: Comparison | None = None,
               transform=None) -> Comparison:
    """Worst relative difference of the claim (optionally ``transform``-ed) over its index values; a claim
    without a finite value is infinitely far, a derivative without one cannot be compared."""
    out = out or Comparison()
    for binding, claimed, truth in pairs(claim, point, options, truth_point):
        claimed = np.asarray(claimed, dtype=float)
        if transform is not None:
            claimed = transform(claimed)
        if not np.all(np.isfinite(truth)):
            raise ModelError("the derivative itself is not finite at a random point of the model, "
                             "so no claim about it can be checked")
        d = difference(claimed, truth) if np.all(np.isfinite(claimed)) else math.inf
        if out.misshaped is None and misfit(claim, claimed, truth):
            out.misshaped = (np.shape(claimed), np.shape(truth))
        out.compared += 1
        out.entries += int(np.size(truth))
        if d == math.inf and out.not_finite is None and not np.all(np.isfinite(claimed)):
            out.not_finite = counterexample(point, binding, claimed, truth)
        if d > out.worst:
            out.worst = d
            if d > REL_TOL and (out.counterexample is None or d == math.inf):
                out.counterexample = counterexample(point, binding, claimed, truth)
    return out


def misfit(claim: Claim, claimed, truth) -> bool:
    """The claimed value does not have the derivative's shape: not conformable (see :func:`conform`), or a
    scalar from products of matrices where the derivative is a matrix (a number written out fills any shape)."""
    if conform(claimed, np.asarray(truth, dtype=float)) is None:
        return True
    return np.ndim(claimed) == 0 and np.ndim(truth) > 0 and np.size(truth) > 1 and not is_plain_number(claim.rhs)


def counterexample(point: Point, binding: dict, claimed, truth) -> dict:
    """Where the claim fails: sizes, index values, seed, both shapes and up to four differing entries."""
    sizes = {str(k): int(v) for k, v in point.sizes.items()}
    a, b = np.asarray(claimed, dtype=float), np.asarray(truth, dtype=float)
    out = {"sizes": sizes, "case": case_text(point.sizes, point.subject),
           "indices": {str(k): int(v) for k, v in binding.items()}, "seed": point.seed,
           "claimed_shape": list(a.shape), "correct_shape": list(b.shape)}
    if a.shape == b.shape or a.ndim == 0:
        a = np.broadcast_to(a, b.shape)
        idx = np.argwhere(~np.isclose(a, b, rtol=1e-7, atol=1e-10))[:4]
        out["entries"] = [{"at": [int(i) + 1 for i in ix], "claimed": float(a[tuple(ix)]),
                           "correct": float(b[tuple(ix)])}
                          for ix in idx]
    return out
