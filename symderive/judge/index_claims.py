r"""Judging an index-level claim: is ``\frac{\partial L}{\partial V_j} = \sum_{i=1}^{m} \delta_i \sigma'(z_i)
x_{i+j-1}`` right, at every j, the edges included?

The truth is the derived backward program of the model (:mod:`symderive.index.derive`) run by the naive
interpreter (:mod:`symderive.index.evaluate`); the claim's right side is evaluated by
:mod:`symderive.judge.index_expr` at every value of the free letters (the range of the array the derivative
is taken of, as the model writes it: from 1 in the notes' convention, from 0 in code's):

1. numerically (float64, fixed seeds) at two size cases, strides and paddings different in each;
2. then exactly at the first case: symbols for the arguments of a polynomial model (a convolution: the
   difference must expand to the zero polynomial), distinct rationals otherwise (exact arithmetic; 50
   digits where exp appears);
3. a wrong claim is diagnosed (:mod:`symderive.judge.index_diagnose`): the usual mistakes are tried on the
   claim one by one, and the one that makes it hold is named with the corrected formula.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symderive.errors import LatexParseError, ModelError
from symderive.judge.compare import REL_TOL
from symderive.judge.index_expr import Binding, Compiler, axis_span, plain
from symderive.judge.index_subject import IndexSubject
from symderive.latex.indexed import read_index_claim
from symderive.latex.parsed import partial

EXACT_DIGITS = 50


@dataclass
class IndexClaim:
    """A claim read: the LaTeX of its left side, the name and letters of the derivative, the right side."""

    text: str
    lhs_text: str
    name: str
    letters: tuple
    rhs: sp.Expr
    implicit: frozenset = field(default_factory=frozenset)


def read_claim(text: str, subject: IndexSubject) -> IndexClaim:
    r"""``\frac{\partial L}{\partial NAME_{letters}} = EXPRESSION``; the derivative of L with respect to an array
    of the model, at distinct letters."""
    sides, ctx = read_index_claim(text)
    if len(sides) != 2:
        raise LatexParseError("a claim is 'DERIVATIVE = EXPRESSION' (\\frac{\\partial L}{\\partial V_j} = ...)",
                              text, 0)
    lhs, rhs = sides
    if not isinstance(lhs, partial) or getattr(lhs.args[0], "name", "") != "L":
        raise ModelError(f"the left side of a claim is a derivative of the loss, \\frac{{\\partial L}}{{\\partial "
                         f"V_j}}, not {lhs}")
    wrt = lhs.args[1]
    name = wrt.base.label.name if isinstance(wrt, sp.Indexed) else getattr(wrt, "name", str(wrt))
    letters = tuple(wrt.indices) if isinstance(wrt, sp.Indexed) else ()
    if name not in subject.adjoints:
        raise ModelError(f"the derivative is taken with respect to {name}, which is not an array of the model; "
                         f"the arrays with a gradient: {', '.join(sorted(subject.adjoints))}")
    if not all(isinstance(v, sp.Symbol) for v in letters) or len(set(letters)) != len(letters):
        raise ModelError(f"index the derivative by distinct letters (\\partial x_{{c,m,n}}), not "
                         f"{', '.join(map(str, letters))}")
    expected = len(subject.adjoints[name].origins)
    if len(letters) != expected:
        raise ModelError(f"{name} has {expected} indices but the derivative is written with {len(letters)}")
    return IndexClaim(text, left_side(text), name, letters, rhs, frozenset(ctx.implicit))


def left_side(text: str) -> str:
    """The text before the first ``=`` outside braces."""
    depth = 0
    for k, ch in enumerate(text):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "=" and depth == 0:
            return text[:k].strip()
    return text.strip()


@dataclass
class Comparison:
    """The worst relative difference, where the claim first fails, and how many entries were compared."""

    worst: float = 0.0
    entries: int = 0
    counterexample: dict | None = None


def compiled(claim: IndexClaim, subject: IndexSubject, rhs=None):
    """The right side (or ``rhs``) compiled; the free letters run over the axes of the array differentiated."""
    array = subject.adjoints[claim.name]
    scope = {v.name: axis_span(array.key, o, k) for k, (v, o) in enumerate(zip(claim.letters, array.origins))}
    return Compiler(subject, scope, claim.implicit).compile(claim.rhs if rhs is None else rhs)


def failing(claim: IndexClaim, subject: IndexSubject, env, rhs=None, at=None, most: int = 8) -> list:
    """Up to ``most`` positions of the first case (of ``at``, default every one) where the claim (or ``rhs``)
    differs from the derivative."""
    value = compiled(claim, subject, rhs)
    truth = env[subject.adjoints[claim.name].key]
    scale = max(float(np.max(np.abs(truth))) if truth.size else 0.0, 1e-300)
    out = []
    for position in np.ndindex(truth.shape) if at is None else at:
        claimed = plain(value(binding(claim, subject, env, 0, position)))
        if not abs(claimed - truth[position]) <= REL_TOL * scale:
            out.append(position)
            if len(out) >= most:
                break
    return out


def compare(claim: IndexClaim, subject: IndexSubject, envs: list, rhs=None, first: bool = False) -> Comparison:
    """The claim (or ``rhs`` in its place) against the derivative at every entry of both cases (the first
    only with ``first``)."""
    value = compiled(claim, subject, rhs)
    out = Comparison()
    for k, env in enumerate(envs[:1] if first else envs):
        truth = env[subject.adjoints[claim.name].key]
        claimed = np.zeros(truth.shape)
        for position in np.ndindex(truth.shape):
            claimed[position] = plain(value(binding(claim, subject, env, k, position)))
        scale = max(float(np.max(np.abs(truth))) if truth.size else 0.0, 1e-300)
        error = float(np.max(np.abs(claimed - truth))) / scale if truth.size else 0.0
        if not np.all(np.isfinite(claimed)):
            error = math.inf
        out.entries += truth.size
        if error > out.worst:
            out.worst = error
            if error > REL_TOL and out.counterexample is None:
                out.counterexample = counterexample(claim, subject, k, claimed, truth)
    return out


def binding(claim: IndexClaim, subject: IndexSubject, env, case: int, position, symbolic: bool = False) -> Binding:
    origins = subject.adjoints[claim.name].origins
    letters = {v.name: int(p + o) for v, p, o in zip(claim.letters, position, origins)}
    sizes = {name: subject.cases[case][s] for name, s in subject.sizes.items() if s in subject.cases[case]}
    return Binding(env, sizes, letters, symbolic)


def counterexample(claim: IndexClaim, subject: IndexSubject, case: int, claimed, truth) -> dict:
    """The first entries where the claim differs (up to four), at the indices as the model writes them."""
    origins = subject.adjoints[claim.name].origins
    bad = np.argwhere(~np.isclose(claimed, truth, rtol=1e-6, atol=1e-9 * max(1.0, float(np.max(np.abs(truth))))))
    at = [tuple(int(p + o) for p, o in zip(pos, origins)) for pos in bad[:4]]
    return {"case": case_text(subject, case), "indices": dict(zip(map(str, claim.letters), at[0] if at else ())),
            "seed": case, "claimed_shape": list(truth.shape), "correct_shape": list(truth.shape),
            "entries": [{"at": list(a), "claimed": float(claimed[tuple(p)]), "correct": float(truth[tuple(p)])}
                        for a, p in zip(at, bad[:4])]}


def case_text(subject: IndexSubject, case: int) -> str:
    values = subject.cases[case]
    return ", ".join(f"{s.name}={values[s]}" for s in sorted(subject.sizes.values(), key=str) if s in values)


def exact(claim: IndexClaim, subject: IndexSubject) -> bool:
    """Every entry of the claim minus the derivative is exactly 0 at the first case (a polynomial identity
    for a polynomial model; exact numbers, or 50 digits where exp appears, otherwise)."""
    env = subject.run(0, symbolic=True)
    value = compiled(claim, subject)
    truth = np.asarray(env[subject.adjoints[claim.name].key], dtype=object)  # a scalar's is one SymPy number
    for position in np.ndindex(truth.shape):
        claimed = plain(value(binding(claim, subject, env, 0, position, symbolic=True)))
        diff = sp.expand(sp.sympify(claimed - truth[position]))
        if diff != 0 and not (diff.is_number and abs(sp.N(diff, EXACT_DIGITS)) < sp.Float(f"1e-{EXACT_DIGITS - 10}")):
            return False
    return True
