r"""The correct formula printed for a wrong claim about ∂L/∂h_{t+k} is the formula at step t+k, in the user's
names (``\delta_t`` from a definition), so that pasting it back as the claim holds."""
import pytest

from symderive.judge.check import check

RNN = [r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)", r"o_t = W_{hy} h_t + c",
       r"L = \sum_{t=1}^{T} \ell(o_t, y_t)"]
ROWS = [r"H_t = \tanh(X_t W^{(1)} + H_{t-1} W^{(2)} + b)", r"O_t = H_t W^{(3)} + c",
        r"L = \sum_{t=1}^{T} \ell(O_t, Y_t)"]
DELTA = r"\delta_t = \frac{\partial L}{\partial h_t}"
DELTA_ROWS = r"\delta_t = \frac{\partial L}{\partial H_t}"
# a wrong claim (the transpose and the output term missing) at each step
WRONG = r"W_{hh} (\delta_t \odot (1 - h_t^2))"
WRONG_ROWS = r"(\delta_t \odot (1 - H_t^2)) W^{(2)}"


def corrected(model, where, lhs, wrong):
    """The correction printed for ``lhs = wrong``, after checking that the claim is refuted."""
    [result] = check(model=model, where=[where], claims=[f"{lhs} = {wrong}"])
    assert result.verdict == "not_equal"
    return result.correct


def test_the_correction_is_written_at_the_left_sides_step_in_the_users_names():
    # by hand: dL/dh_{t-1} = W_hh^T (dL/dh_t ⊙ (1 - h_t^2)) + W_hy^T dℓ_{t-1}/do_{t-1}
    correct = corrected(RNN, DELTA, r"\frac{\partial L}{\partial h_{t-1}}", WRONG)
    assert correct == (r"W_{hh}^{\top} \left(\delta_{t} \odot \left(1 - h_{t} \odot h_{t}\right)\right) + "
                       r"W_{hy}^{\top} \frac{\partial \ell_{t-1}}{\partial o_{t-1}}")


@pytest.mark.parametrize("step", ["t-1", "t+1", "t"])
def test_the_correction_pasted_back_holds_in_columns(step):
    lhs = rf"\frac{{\partial L}}{{\partial h_{{{step}}}}}"
    correct = corrected(RNN, DELTA, lhs, WRONG)
    [result] = check(model=RNN, where=[DELTA], claims=[f"{lhs} = {correct}"])
    assert result.verdict == "equal", (correct, result.diagnosis)


@pytest.mark.parametrize("step", ["t-1", "t+1"])
def test_the_correction_pasted_back_holds_in_rows(step):
    lhs = rf"\frac{{\partial L}}{{\partial H_{{{step}}}}}"
    correct = corrected(ROWS, DELTA_ROWS, lhs, WRONG_ROWS)
    [result] = check(model=ROWS, where=[DELTA_ROWS], claims=[f"{lhs} = {correct}"])
    assert result.verdict == "equal", (correct, result.diagnosis)


def test_a_row_claim_in_the_users_words_holds():
    # by hand, in rows: dL/dH_{t-1} = (dL/dH_t ⊙ (1 - H_t^2)) W2^T + dL/dO_{t-1} W3^T
    # (dL/dO_{t-1} is dℓ_{t-1}/dO_{t-1}: O_{t-1} reaches the loss only through ℓ_{t-1})
    claim = (r"\frac{\partial L}{\partial H_{t-1}} = (\delta_t \odot (1-H_t^2)) W^{(2)\top} + "
             r"\frac{\partial L}{\partial O_{t-1}} W^{(3)\top}")
    [result] = check(model=ROWS, where=[DELTA_ROWS], claims=[claim])
    assert result.verdict == "equal", result.diagnosis
