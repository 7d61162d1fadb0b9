r"""A well-formed claim whose shapes do not fit is a wrong claim, not bad input: "does not hold" (exit 1), the
clash named with both shapes, the usual mistake that explains it (a transpose left out, alone or beside a
second mistake), and the correct formula. The expected formulas are derived by hand: for a = σ(Wx + b) and
L = ½‖a - y‖², ∂L/∂z = (a - y) ⊙ a ⊙ (1 - a) (σ' = σ(1 - σ)), ∂L/∂x = Wᵀ ∂L/∂z, ∂L/∂W = ∂L/∂z xᵀ (CS231n's
notes); for attention S = QKᵀ/√d_k, ∂L/∂K = S̄ᵀ Q / √d_k."""
import pytest

from symderive import check
from symderive.cli import main

DENSE = [r"a = \sigma(W x + b)", r"L = \frac{1}{2}\|a - y\|^2"]
DZ = r"((a - y) \odot a \odot (1 - a))"


def one(claim, **subject):
    [result] = check(claims=[claim], **subject)
    return result


@pytest.mark.parametrize("lhs, wrong, shapes, right", [
    # W (a - y): W is 2 x 3 at the first size case, a - y is 2 x 1; the transpose and σ' are missing
    (r"\frac{\partial L}{\partial x}", "W (a-y)", ("2 x 3", "2 x 1"), rf"W^\top {DZ}"),
    # (a - y) x: a 2 x 1 by a 3 x 1 column; the transpose of x and σ' are missing
    (r"\frac{\partial L}{\partial W}", "(a-y)x", ("2 x 1", "3 x 1"), rf"{DZ} x^\top"),
])
def test_a_missing_transpose_beside_a_missing_derivative(lhs, wrong, shapes, right):
    result = one(f"{lhs} = {wrong}", model=DENSE)
    assert result.verdict == "not_equal", result
    assert all(s in result.diagnosis for s in shapes), result.diagnosis
    assert "a transpose is missing" in result.diagnosis and "derivative of sigmoid is missing" in result.diagnosis
    assert one(f"{lhs} = {right}", model=DENSE).verdict == "equal"
    assert one(f"{lhs} = {result.correct}", model=DENSE).verdict == "equal", result.correct


def test_a_missing_transpose_of_an_adjoint_alone():
    result = one(r"\frac{\partial L}{\partial K} = \frac{1}{\sqrt{d_k}} \bar S Q", derivation="attention")
    assert result.verdict == "not_equal", result
    # S̄ is n_q x n_k (3 x 2), Q is n_q x d_k (3 x 4) at the first size case
    assert "3 x 2" in result.diagnosis and "3 x 4" in result.diagnosis, result.diagnosis
    assert "a transpose is missing" in result.diagnosis and "with that corrected" not in result.diagnosis
    assert one(r"\frac{\partial L}{\partial K} = \frac{1}{\sqrt{d_k}} \bar S^\top Q",
               derivation="attention").verdict == "equal"
    assert result.correct


def test_a_right_side_of_another_shape_is_wrong_and_says_both_shapes():
    # ∂L/∂b is n x 1; (a - y) xᵀ is n x d
    result = one(r"\frac{\partial L}{\partial b} = (a - y) x^\top", model=DENSE)
    assert result.verdict == "not_equal" and "2 x 3" in result.diagnosis and "2 x 1" in result.diagnosis, result
    assert one(rf"\frac{{\partial L}}{{\partial b}} = {result.correct}", model=DENSE).verdict == "equal"


def test_the_cli_says_does_not_hold_and_exits_1(capsys):
    code = main(["check", "--model", DENSE[0], "--model", DENSE[1],
                 "--claim", r"\frac{\partial L}{\partial x} = W (a-y)"])
    out = capsys.readouterr()
    assert code == 1 and "DOES NOT HOLD" in out.out and "CANNOT BE CHECKED" not in out.out, out
    assert "Traceback" not in out.out + out.err


def test_an_unknown_symbol_is_still_bad_input():
    result = one(r"\frac{\partial L}{\partial x} = V (a-y)", model=DENSE)
    assert result.verdict == "error" and "unknown symbol" in result.diagnosis, result


def test_a_stack_of_clashing_shapes_is_wrong_and_quick():
    """Found by the fuzz (tests/fuzz_check.py): W_hh (n x n) beside x_t (d x 1) cannot be stacked."""
    import time
    start = time.perf_counter()
    result = one(r"\frac{\partial L}{\partial W_{hh}} = [W_{hh}, x_t]", derivation="rnn")
    assert result.verdict == "not_equal" and "cannot stack shapes" in result.diagnosis, result
    assert time.perf_counter() - start < 5


def test_an_identity_without_a_size_is_still_bad_input():
    result = one(r"\frac{\partial L}{\partial W}= \sigma(I)", model=DENSE)
    assert result.verdict == "error" and "the identity I has no size here" in result.diagnosis, result
