"""Hypothesis over `check` itself (issue 12): random models and claims from the grammar, random sizes
(0, 1, huge), random numbers (huge, tiny, undefined), each judged in a child process with a time and a
memory limit. Only our own errors and verdicts are acceptable, and "holds" needs evidence: entries
compared and a finite error within the tolerance. ``make fuzz`` runs the same cases for longer."""
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz_check import Fuzzer, cases, problem


@pytest.fixture(scope="module")
def fuzzer():
    with Fuzzer() as f:
        yield f


@settings(max_examples=40, deadline=None, database=None, phases=(Phase.generate,),
          suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_check_answers_every_generated_case_with_a_verdict_or_our_error(fuzzer, case):
    response = fuzzer.run(case)
    assert problem(response) is None, (case, response)


@pytest.mark.parametrize("response, acceptable", [
    ({"outcome": "verdicts", "results": [{"verdict": "equal", "max_rel_error": 0.0, "compared": 6}]}, True),
    ({"outcome": "verdicts", "results": [{"verdict": "equal", "max_rel_error": 0.0, "compared": 0}]}, False),
    ({"outcome": "verdicts", "results": [{"verdict": "equal", "max_rel_error": "nan", "compared": 6}]}, False),
    ({"outcome": "verdicts", "results": [{"verdict": "not_equal", "max_rel_error": "inf", "compared": 0}]}, True),
    ({"outcome": "error", "type": "LatexParseError", "message": "..."}, True),
    ({"outcome": "foreign", "type": "TypeError", "message": "...", "traceback": ""}, False),
    ({"outcome": "hang"}, False), ({"outcome": "crash", "code": -9}, False)])
def test_the_fuzz_accepts_only_verdicts_with_evidence_and_our_errors(response, acceptable):
    assert (problem(response) is None) == acceptable


def test_the_child_is_limited_and_replaced(fuzzer):
    """A case that never ends is cut off at the time limit and the next case gets a fresh child."""
    quick = Fuzzer(case_seconds=0.001)
    try:
        assert quick.run({"derivation": "rnn", "claims": [r"\frac{\partial L}{\partial W_{hh}} = 0"]}) \
            ["outcome"] == "hang"
        assert quick.child is None
    finally:
        quick.stop()
    assert fuzzer.run({"derivation": "dense", "claims": ["x"]})["outcome"] == "verdicts"
