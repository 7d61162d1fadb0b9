"""A row passes only when every check in it passes, the external reference included."""
import pytest

from symderive.verify.report import Report, Row


@pytest.mark.parametrize("reference, passed", [("torch ok 3e-16", True), ("-", True), ("torch FAIL 1e-01", False)])
def test_a_failing_reference_fails_the_row(reference, passed):
    row = Row("dL/dW", True, 1e-10, 1e-10, True, reference)
    assert row.passed is passed
    assert Report("m", [row]).table().endswith("all checks passed" if passed else "SOME CHECKS FAILED")
