r"""Judging a hand-derived derivative: is ``\frac{\partial L}{\partial W} = ...`` right, and if not, why?

A claim ``∂A/∂B = RHS`` is judged against the engine's derivation of the model (:mod:`symderive.judge.subject`):

* both sides are evaluated by the engine's reference interpreter at a run of the model
  (:mod:`symderive.judge.point`, :mod:`symderive.judge.evaluate`): the derivative from the derived
  backward program (:mod:`symderive.judge.derivatives`), the right-hand side from the parse, symbols
  taking the values of a forward run, ``\sum``/``\prod`` running over their bounds (a product of
  matrices in chain-rule order: the factor with the largest index on the left), free indices (``t``,
  ``i``) taking every value in ``1..T``, and quantities outside ``1..T`` (``\delta_{T+1}``) being 0;
* numerically at two size cases (all sizes distinct, so a transposition cannot hide behind a square
  matrix) with fixed seeds in float64 (:mod:`symderive.judge.compare`); then symbolically at the first
  case: the same evaluation over explicit matrices of symbols, activations as atoms (see
  :mod:`symderive.verify.symbolic`), the difference expanded to the zero polynomial under a time limit.
  If that does not finish, many more random points decide, and the result says so;
* a wrong claim is *diagnosed* (:mod:`symderive.judge.diagnose`): the usual mistakes are tried one by
  one and the one that explains the difference is named.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time

import numpy as np
import sympy as sp

from symderive.derivations import derivation as built_in
from symderive.errors import ModelError, ShapeMismatchError, SymderiveError
from symderive.index.engine import IndexEngine
from symderive.judge.compare import REL_TOL, Claim, Comparison, compare_at, conform, pairs, read_claim
from symderive.judge.diagnose import UNEXPLAINED, correct_formula, diagnose
from symderive.judge.index_judge import judge_index, read_index_where
from symderive.judge.index_subject import subject_of_index_derivation, subject_of_index_model
from symderive.judge.notation import written
from symderive.judge.point import Point, case_text, size_cases
from symderive.judge.result import ClaimResult
from symderive.judge.shape_mistakes import shape_diagnosis
from symderive.judge.subject import Subject, read_where, subject_of_derivation, subject_of_latex
from symderive.judge.values import NumericOnly, fmt, is_array
from symderive.latex.index_model import build_index_model, looks_index_level

SYMBOLIC_SECONDS = 5.0
REPEAT_SECONDS = 0.25
FALLBACK_POINTS = 25
TOO_SMALL = ("equal in float64 but not exactly: the claim differs from the derivative by an amount too small "
             "for float64 to see")
NOT_FINITE = ("the claim is not finite at this point: its value has an infinite or undefined (NaN) entry "
              "where the derivative is finite")


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the block after ``seconds`` (main thread on Unix; elsewhere unbounded)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError()

    previous = signal.signal(signal.SIGALRM, expire)
    # repeated every REPEAT_SECONDS after the limit: an alarm that lands in a garbage-collection callback is
    # swallowed there ("Exception ignored in ... gc_callback"), and the block must still end
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Judge:
    """Judges claims against one subject, reusing the forward/backward runs."""

    def __init__(self, subject: Subject):
        self.subject = subject
        self.cases = size_cases(subject)
        self.points = [Point(subject, sizes, seed) for seed, sizes in enumerate(self.cases)]

    def judge(self, text: str) -> ClaimResult:
        """The verdict on one claim; a claim that cannot be read or evaluated gets "error" with the reason.
        (An overflow in float64 is an infinite value, judged as such, not a warning.)"""
        with np.errstate(all="ignore"):
            try:
                return self.verdict(text)
            except SymderiveError as e:
                return ClaimResult(text, "error", str(e))

    def verdict(self, text: str) -> ClaimResult:
        """Read the claim in its layout, compare it numerically, then refute (with a diagnosis) or confirm it."""
        claim = read_claim(text, self.subject)
        try:
            claim, comparison = self.laid_out(claim)
        except ShapeMismatchError as e:  # a matrix not transposed, or factors in the wrong order, do not multiply
            return self.misshaped(text, claim, str(e))
        if comparison.not_finite is not None:
            return self.not_finite(text, comparison, self.method(claim, f"numeric, float64, at {self.sizes}"))
        if comparison.worst > REL_TOL:
            return self.refuted(text, claim, comparison)
        return self.confirmed(text, claim, comparison)

    def laid_out(self, claim: Claim) -> tuple[Claim, Comparison]:
        """The claim in the layout it is written in, and its comparison: the model's (column) layout, or for a
        built-in, whose documents print both, the row layout (every vector a row, the claim the transpose of
        the column form) where that reading holds, or fits the shapes where the column reading does not."""
        try:
            column, error = self.numeric(claim), None
        except ShapeMismatchError as e:
            column, error = None, e
        if not self.subject.row_form or (column is not None and column.holds):
            return claim, self.raise_or(error, column)
        try:
            row = self.numeric(claim.in_row_layout())
        except SymderiveError:
            return claim, self.raise_or(error, column)
        if row.holds or column is None or (column.misshaped and not row.misshaped):
            return claim.in_row_layout(), row
        return claim, column

    @staticmethod
    def raise_or(error, comparison):
        if error is not None:
            raise error
        return comparison

    def method(self, claim: Claim, how: str) -> str:
        """How the claim was checked, with the layout it was read in when that is the row layout."""
        return f"read in the row layout (vectors are rows); {how}" if claim.row else how

    def numeric(self, claim: Claim) -> Comparison:
        """The worst difference over both size cases (an error if no index value denotes a derivative)."""
        comparison = Comparison()
        for point in self.points:
            compare_at(claim, point, out=comparison)
        if comparison.compared == 0:
            raise ModelError("no value of the claim's indices denotes a derivative (check the time indices)")
        if comparison.entries == 0:
            raise ModelError("the derivative has no entries at these sizes, so nothing can be compared")
        return comparison

    @property
    def sizes(self) -> str:
        """The size cases as text (once when they are the same: every size declared as a number)."""
        return "; ".join(dict.fromkeys(case_text(c, self.subject) for c in self.cases))

    def not_finite(self, text: str, comparison: Comparison, method: str) -> ClaimResult:
        """A claim without a finite value where the derivative has one cannot hold."""
        return ClaimResult(text, "not_equal", NOT_FINITE, math.inf, comparison.not_finite, method)

    def refuted(self, text: str, claim: Claim, comparison: Comparison) -> ClaimResult:
        """Not equal: the mistake named; a value of another shape that no usual mistake explains is bad input."""
        result = ClaimResult(text, "not_equal", max_rel_error=comparison.worst,
                             counterexample=comparison.counterexample,
                             method=self.method(claim, f"numeric, float64, at {self.sizes}"))
        result.diagnosis = diagnose(claim, self.points)
        if comparison.misshaped and result.diagnosis == UNEXPLAINED:
            claimed, correct = comparison.misshaped
            result.diagnosis = shape_diagnosis(claim, self.points, (
                f"the right side has shape {fmt(claimed)} but {written(claim.lhs)} has shape {fmt(correct)} "
                f"at {case_text(self.points[0].sizes, self.subject)}"))
        result.correct = correct_formula(claim, self.subject)
        return result

    def misshaped(self, text: str, claim: Claim, clash: str) -> ClaimResult:
        """A claim whose shapes do not fit is wrong: the clash named, and the usual mistake that explains it."""
        return ClaimResult(text, "not_equal", shape_diagnosis(claim, self.points, clash), math.inf, None,
                           f"numeric, float64, at {self.sizes}", correct=correct_formula(claim, self.subject))

    def confirmed(self, text: str, claim: Claim, comparison: Comparison) -> ClaimResult:
        """Equal (and finite) at both cases: proved symbolically, refuted exactly (a difference too small for
        float64), or else checked at many more random points."""
        outcome, how = self.symbolic(claim)
        method = self.method(claim, f"numeric at {self.sizes}; {how}")
        if outcome == REFUTED:
            return ClaimResult(text, "not_equal", TOO_SMALL, comparison.worst, None, method)
        if outcome != PROVED:
            extra = Comparison()
            for seed in range(10, 10 + FALLBACK_POINTS):
                compare_at(claim, Point(self.subject, self.cases[0], seed), out=extra)
            if extra.not_finite is not None:
                return self.not_finite(text, extra, method)
            if extra.worst > REL_TOL:
                return ClaimResult(text, "not_equal", "differs at some random points", extra.worst,
                                   extra.counterexample, method)
            method += f"; equal at {FALLBACK_POINTS} more random points"
        return ClaimResult(text, "equal", "", comparison.worst, None, method, compared=comparison.entries)

    def symbolic(self, claim: Claim) -> tuple[str, str]:
        """Exact check at the first size case: :data:`PROVED` when the difference expands to the zero
        polynomial, :data:`REFUTED` when it is a nonzero polynomial of the arguments alone (no activation
        in it, so no identity among activations can cancel it), else :data:`OPEN`; and how."""
        start = time.perf_counter()
        try:
            with time_limit(SYMBOLIC_SECONDS):
                point = Point(self.subject, self.cases[0], 0, symbolic=True)
                for _, claimed, truth in pairs(claim, point):
                    outcome = exact_outcome(claimed, truth, set(point.backend.atoms.values()))
                    if outcome != PROVED:
                        return outcome, EXACT_TEXT[outcome].format(case_text(self.cases[0], self.subject))
        except TimeoutError:
            return OPEN, f"the symbolic check did not finish in {SYMBOLIC_SECONDS:.0f} s"
        except NumericOnly as e:
            return OPEN, f"no symbolic check: {e}"
        seconds = time.perf_counter() - start
        return PROVED, f"proved symbolically at {case_text(self.cases[0], self.subject)} ({seconds:.1f} s)"


PROVED, REFUTED, OPEN = "proved", "refuted", "open"
EXACT_TEXT = {REFUTED: "the exact difference at {} is not 0",
              OPEN: "the symbolic difference did not reduce to 0 with activations as atoms"}


def exact_outcome(claimed, truth, atoms: set) -> str:
    """:data:`PROVED` if ``claimed - truth`` (the claimed value in the truth's shape) expands to 0 in every
    entry, :data:`REFUTED` if an entry is a nonzero polynomial free of the activation ``atoms``, else :data:`OPEN`."""
    claimed = conform(claimed, truth)
    if claimed is None:
        return OPEN
    diff = (sp.Matrix(claimed) if is_array(claimed) else claimed) - truth
    entries = [e for e in (sp.expand(x) for x in (list(diff) if is_array(diff) else [diff])) if e != 0]
    if not entries:
        return PROVED
    if any(not (e.free_symbols & atoms) and e.is_polynomial() for e in entries):
        return REFUTED
    return OPEN


# ---------------------------------------------------------------------------------------------
# The entry point.


def check(model=None, claims=(), where=(), shapes=None, derivation=None, ranges=None,
          index_base=None) -> list[ClaimResult]:
    r"""Judge each hand-derived claim against the model (LaTeX equations) or a built-in derivation.

        >>> check(model=[r"z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2"],
        ...       claims=[r"\frac{\partial L}{\partial W} = ((a - y) \odot a \odot (1 - a)) x^T"])

    ``shapes`` maps names to sizes (``{"W_{hh}": "n x n"}``) or is a list of ``'NAME: n x d'``. An index-level
    model (``h_i = \sigma(\sum_{j=1}^{k} V_j x_{i+j-1})``) or built-in (conv1d, conv2d, pool2d, cnn) is judged
    entry by entry (:mod:`symderive.judge.index_judge`); ``ranges`` (``['i: 1..m']``) and ``index_base`` (0 or 1:
    how the claims count, for a built-in; how the model does, for equations) are for those.
    Errors in the model raise :class:`~symderive.errors.SymderiveError`; a claim that cannot be read
    gets the verdict "error" with the reason.
    """
    model, claims, where = (as_list(x) for x in (model, claims, where))
    declared = [f"{k}: {v}" for k, v in shapes.items()] if isinstance(shapes, dict) else as_list(shapes or [])
    if derivation is not None and declared:
        raise ModelError("shapes are declared for a model given as equations; a built-in derivation has its own")
    if derivation is not None and ranges:
        raise ModelError("ranges are declared for a model given as equations; a built-in derivation has its own")
    d = built_in(derivation) if isinstance(derivation, str) else derivation
    if not claims and (d is not None or model):
        raise ModelError("give at least one claim (--claim '\\frac{\\partial L}{\\partial W} = ...')")
    if d is not None and isinstance(d.engine, IndexEngine) or d is None and model and looks_index_level(model):
        return index_check(d, model, claims, where, declared, ranges, index_base)
    if ranges:
        raise ModelError("--range declares the range of an index of an index-level model (h_i = ..., "
                         "Y_{o,i,j} = ...); this model is matrix-level")
    if d is not None:
        subject = subject_of_derivation(d)
    elif model:
        subject = subject_of_latex(list(model), declared)
    else:
        raise ModelError("give the model's equations (--model) or the name of a built-in derivation")
    read_where(subject, list(where))
    judge = Judge(subject)
    return [judge.judge(text) for text in claims]


def index_check(d, model, claims, where, shapes, ranges, index_base) -> list[ClaimResult]:
    """The claims judged against an index-level built-in (in its documented notation, indices from
    ``index_base``) or model of equations."""
    if d is not None:
        subjects = subject_of_index_derivation(d, index_base or 0)
    else:
        subjects = [subject_of_index_model(build_index_model(list(model), shapes, ranges, index_base))]
    for subject in subjects:
        read_index_where(subject, list(where))
    return [judge_index(subjects, text) for text in claims]


def as_list(x):
    """One string as a list of one; other values unchanged."""
    return [x] if isinstance(x, str) else x


def squeezed(shape) -> tuple:
    """A shape without its axes of length 1 (a scalar, 1 x 1 and () alike)."""
    return tuple(d for d in (shape or ()) if d != 1)


def describe(r: ClaimResult) -> str:
    """A claim's verdict as a few lines of text."""
    head = {"equal": "HOLDS", "not_equal": "DOES NOT HOLD", "error": "CANNOT BE CHECKED"}[r.verdict]
    lines = [r.claim, f"  {head}: {r.diagnosis}" if r.diagnosis else f"  {head}"]
    if r.method:
        finite = r.max_rel_error is not None and math.isfinite(r.max_rel_error)
        lines.append(f"  checked: {r.method}" + (f" (max relative error {r.max_rel_error:.2g})" if finite else ""))
    if r.correct:
        legend = "    (\\bar{v} denotes dL/dv)" if "\\bar{" in r.correct else ""
        lines.append(f"  correct: {r.correct}{legend}")
    ce = r.counterexample
    if ce:
        indices = ", ".join(f"{k}={v}" for k, v in ce["indices"].items())
        where = ", ".join(x for x in (ce.get("case", ""), indices) if x)
        shapes = (f": claimed shape {fmt(ce['claimed_shape'])}, correct shape {fmt(ce['correct_shape'])}"
                  if squeezed(ce["claimed_shape"]) != squeezed(ce["correct_shape"]) else "")
        lines.append(f"  counterexample at {where} (seed {ce['seed']}){shapes}")
        for e in ce.get("entries", []):
            lines.append(f"    entry {tuple(e['at'])}: claimed {e['claimed']:.6g}, correct {e['correct']:.6g}")
    return "\n".join(lines)
