r"""The verdict on an index-level claim (see :mod:`symderive.judge.index_claims` for how it is compared):
numeric at two size cases, exact at the first, and a wrong claim diagnosed."""
from __future__ import annotations

import numpy as np
import sympy as sp

from symderive.errors import ModelError, SymderiveError
from symderive.judge.compare import REL_TOL
from symderive.judge.index_claims import case_text, compare, exact, read_claim
from symderive.judge.index_diagnose import diagnose
from symderive.judge.index_subject import IndexSubject
from symderive.judge.result import ClaimResult
from symderive.latex.indexed import read_index_claim


def judge_index(subjects: list[IndexSubject], text: str) -> ClaimResult:
    """The verdict on one claim against the model (each variant of a built-in: it holds if it holds for one)."""
    results = []
    for subject in subjects:
        try:
            results.append(verdict(subject, text))
        except SymderiveError as e:
            results.append(ClaimResult(text, "error", str(e)))
        if results[-1].holds:
            return results[-1]
    unknown = "unknown symbol"  # a name of another variant: that variant's error says less
    return next((r for r in results if r.verdict != "error"), None) or next(
        (r for r in results if unknown not in r.diagnosis), results[0])


def verdict(subject: IndexSubject, text: str) -> ClaimResult:
    claim = read_claim(text, subject)
    with np.errstate(all="ignore"):
        envs = [subject.run(k) for k in range(len(subject.cases))]
        comparison = compare(claim, subject, envs)
    where = f"at every value of {', '.join(map(str, claim.letters)) or 'the entry'} (edges included), "
    method = where + "float64, at " + "; ".join(case_text(subject, k) for k in range(len(subject.cases)))
    method = (f"the {subject.tag} variant: " if subject.tag else "") + method
    if comparison.worst > REL_TOL:
        diagnosis, correct = diagnose(claim, subject, envs)
        return ClaimResult(text, "not_equal", diagnosis, comparison.worst, comparison.counterexample, method,
                           correct)
    if not exact(claim, subject):
        return ClaimResult(text, "not_equal", "equal in float64 but not exactly: the claim differs from the "
                           "derivative by an amount too small for float64 to see", comparison.worst, None, method)
    method += f"; proved exactly at {case_text(subject, 0)}"
    return ClaimResult(text, "equal", "", comparison.worst, None, method, compared=comparison.entries)


def read_index_where(subject: IndexSubject, texts: list[str]) -> None:
    """Each definition ``NAME_{letters} = EXPRESSION`` (``\\delta_{o,i,j} = \\frac{\\partial L}{\\partial
    Y_{o,i,j}}``) added to the subject: a claim may use the name."""
    for text in texts:
        sides, _ = read_index_claim(text)
        lhs = sides[0]
        if len(sides) != 2 or not isinstance(lhs, (sp.Indexed, sp.Symbol)):
            raise ModelError(f"a definition is 'NAME_{{i,j}} = EXPRESSION' (\\delta_i = ...): {text}")
        letters = tuple(lhs.indices) if isinstance(lhs, sp.Indexed) else ()
        if not all(isinstance(v, sp.Symbol) for v in letters):
            raise ModelError(f"index a definition by letters (\\delta_{{o,i,j}}), not {lhs}")
        subject.where[lhs.base.label.name if letters else lhs.name] = (letters, sides[1])
