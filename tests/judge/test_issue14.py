r"""Issue 14, item 5: the check failures that reached the user, and the diagnoses of four usual mistakes.

Every right claim below is the textbook formula written by hand (the dense layer of CS231n's notes, BPTT
as in d2l.ai 9.7, the LSTM cell adjoint as in Graves 2012, eq. 4.x); every wrong one carries one mistake,
and the test asks that it is judged wrong AND that the named diagnosis appears.
"""
import pytest

from symderive import check
from symderive.cli import main

DENSE = [r"z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2"]
RNN = [r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)", r"o_t = W_{hy} h_t + c",
       r"L = \sum_{t=1}^{T} \frac{1}{2}\|o_t - y_t\|^2"]
ABSTRACT_ROW = [r"H_t = \tanh(X_t W_X + H_{t-1} W_H)", r"O_t = H_t W_O", r"L = \sum_{t=1}^{T} \ell(O_t, Y_t)"]


def one(claim, **subject):
    [result] = check(claims=[claim], **subject)
    return result


# ---------------------------------------------------------------------------------------------
# The failures of the issue.


def test_a_row_vector_for_a_column_gradient_is_judged_and_a_real_shape_mismatch_is_wrong(capsys):
    """``∂L/∂b = (...)^T`` has the entries of ∂L/∂b laid out as a row: judged (a row/column reading is the
    natural one); ``(a - y) x^T`` is a matrix where ∂L/∂b is a vector: a wrong claim (exit 1) naming both
    shapes."""
    base = ["check", "dense", "--claim"]
    assert main(base + [r"\frac{\partial L}{\partial b} = ((a - y) \odot a \odot (1 - a))^\top"]) == 0
    assert main(base + [r"\frac{\partial L}{\partial b} = (a - y) x^\top"]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert "has shape 3 x 2 but \\frac{\\partial L}{\\partial b} has shape 3 x 1" in out.out


def test_a_derivative_of_the_next_step_on_the_right_side_is_evaluated(capsys):
    """The BPTT recurrence as most notes write it: ∂L/∂h_{t+1} on the right is its value at t+1 (0 after T)."""
    claim = (r"\frac{\partial L}{\partial h_t} = W_{hy}^\top (o_t - y_t) + W_{hh}^\top "
             r"(\frac{\partial L}{\partial h_{t+1}} \odot (1 - h_{t+1}^2))")
    assert main(["check", "rnn", "--claim", claim]) == 0
    wrong = claim.replace(r"W_{hh}^\top", "W_{hh}")
    assert main(["check", "rnn", "--claim", wrong]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_the_row_form_jacobian_that_show_prints_holds():
    """``show rnn --layout row`` prints ∂h_t/∂h_{t-1} = W_hh diag(1 - h_t^2) (denominator layout)."""
    r = one(r"\frac{\partial h_t}{\partial h_{t-1}} = W_{hh} \mathrm{diag}(1 - h_t^2)", derivation="rnn")
    assert r.holds and "row layout" in r.method, r


def test_messages_use_the_users_notation(capsys):
    """No hidden target ``g_{ell,t}``, no inferred size names ``n_W_X_r``, no "HOLDS: holds"."""
    base = ["check"] + [x for m in ABSTRACT_ROW for x in ("--model", m)]
    wrong = r"\frac{\partial L}{\partial H_t} = \frac{\partial \ell_t}{\partial O_t} W_O^\top"
    right = (r"\frac{\partial L}{\partial H_t} = \frac{\partial \ell(O_t, Y_t)}{\partial O_t} W_O^\top + "
             r"(\frac{\partial L}{\partial H_{t+1}} \odot (1 - H_{t+1}^2)) W_H^\top")
    assert main(base + ["--claim", right]) == 0
    assert main(base + ["--claim", wrong]) == 1
    out = capsys.readouterr().out
    assert "g_{ell" not in out and "g_ell" not in out and "n_W_X" not in out and "HOLDS: holds" not in out, out
    assert r"\frac{\partial \ell_{t}}{\partial O_{t}} W_{O}^{\top}" in out and "W_X: 5 x 2" in out, out


def test_a_shape_error_inside_the_claim_is_written_in_latex():
    """``H_t ∂ℓ_t/∂O_t`` does not multiply; with H_t transposed it is the gradient of W_O (O_t = H_t W_O), so
    the mistake is named; ``X_t ∂ℓ_t/∂O_t`` fits no usual mistake: wrong, the shapes, the product in LaTeX."""
    missing, misshaped = check(model=ABSTRACT_ROW, claims=[
        r"\frac{\partial L}{\partial W_O} = \sum_{t=1}^{T} H_t \frac{\partial \ell_t}{\partial O_t}",
        r"\frac{\partial L}{\partial W_O} = \sum_{t=1}^{T} X_t \frac{\partial \ell_t}{\partial O_t}"])
    assert missing.verdict == "not_equal" and "a transpose is missing: $H_{t}$" in missing.diagnosis, missing
    assert misshaped.verdict == "not_equal", misshaped
    assert r"cannot multiply shapes 3 x 5 and 3 x 4 in 'X_{t} \frac{\partial \ell_{t}}{\partial O_{t}}'" in \
        misshaped.diagnosis, misshaped


# ---------------------------------------------------------------------------------------------
# Diagnoses.


@pytest.mark.parametrize("subject, right, wrong, diagnosis", [
    # a reversed Jacobian product: ∂a/∂x = diag(σ'(z)) W (chain rule: the factor nearest the output first)
    (dict(model=DENSE), r"\frac{\partial a}{\partial x} = \mathrm{diag}(a \odot (1 - a)) W",
     r"\frac{\partial a}{\partial x} = W \mathrm{diag}(a \odot (1 - a))", "chain-rule factors are in the wrong order"),
    # two steps of BPTT: J_t J_{t-1}, written J_{t-1} J_t
    (dict(model=RNN),
     r"\frac{\partial h_t}{\partial h_{t-2}} = \mathrm{diag}(1 - h_t^2) W_{hh} \mathrm{diag}(1 - h_{t-1}^2) W_{hh}",
     r"\frac{\partial h_t}{\partial h_{t-2}} = \mathrm{diag}(1 - h_{t-1}^2) W_{hh} \mathrm{diag}(1 - h_t^2) W_{hh}",
     "chain-rule factors are in the wrong order"),
    # the LSTM cell adjoint: the forget gate of the next step carries δ^c back
    (dict(derivation="lstm"),
     r"\delta^{c}_{t} = \delta^{h}_{t} \odot o_t \odot (1 - \tanh(c_t)^2) + \delta^{c}_{t+1} \odot f_{t+1}",
     r"\delta^{c}_{t} = \delta^{h}_{t} \odot o_t \odot (1 - \tanh(c_t)^2) + \delta^{c}_{t+1} \odot f_{t}",
     "f_{t} should be f_{t + 1}"),
    # tanh' (1 - a^2) in a sigmoid model, where σ' = a (1 - a)
    (dict(model=DENSE), r"\frac{\partial L}{\partial b} = (a - y) \odot a \odot (1 - a)",
     r"\frac{\partial L}{\partial b} = (a - y) \odot (1 - a^2)", "the derivative of tanh is used where sigmoid"),
    # the sum from t = 2: the t = 1 term is (δ_1 ⊙ (1 - h_1^2)) h_0^T, zero only when h_0 = 0
    (dict(derivation="rnn"),
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=2}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top",
     "holds when h_0 = 0; in general it does not: the sum over t has the wrong bounds"),
])
def test_a_usual_mistake_is_named(subject, right, wrong, diagnosis):
    good, bad = check(claims=[right, wrong], **subject)
    assert good.verdict == "equal", good
    assert bad.verdict == "not_equal" and diagnosis in bad.diagnosis, bad


def test_the_zero_start_is_not_claimed_for_a_mistake_it_does_not_explain():
    r = one(r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_t^\top",
            derivation="rnn")
    assert r.verdict == "not_equal" and "h_0 = 0" not in r.diagnosis, r


TWO_LAYERS = [r"a = \tanh(W^{(1)} x)", r"z = W^{(2)} a", r"L = \frac{1}{2}\|z - y\|^2"]


def test_a_missing_transpose_of_a_non_square_matrix_is_named_not_refused():
    """``W^{(2)} (z - y)`` does not multiply (W^{(2)} is 4 x 2); the mistake is the missing transpose:
    ∂L/∂a = W^{(2)T} (z - y) by the chain rule through z = W^{(2)} a."""
    good, bad = check(model=TWO_LAYERS, claims=[r"\frac{\partial L}{\partial a} = W^{(2)\top} (z - y)",
                                                r"\frac{\partial L}{\partial a} = W^{(2)} (z - y)"])
    assert good.verdict == "equal", good
    assert bad.verdict == "not_equal" and "a transpose is missing" in bad.diagnosis, bad
    assert "{W^{(2)}}^{\\top}" in bad.diagnosis and "W^(2)" not in bad.method, bad


def test_the_correct_formula_of_a_layered_weight_is_valid_latex():
    [r] = check(model=TWO_LAYERS, claims=[r"\frac{\partial L}{\partial a} = W^{(2)\top} (z + y)"])
    assert r.verdict == "not_equal" and r.correct.startswith("{W^{(2)}}^{\\top}"), r


def test_a_scalar_value_scales_a_vector_in_a_claim():
    r"""With a = \sigma(w^\top x + b) a scalar (1 x 1), (a - y) a (1 - a) x is a scalar times x, as the document
    writes it; not a missing transpose."""
    model = [r"a = \sigma(w^\top x + b)", r"L = \frac{1}{2}(a - y)^2"]
    right, wrong = check(model=model, claims=[r"\frac{\partial L}{\partial w} = (a - y) a (1 - a) x",
                                                 r"\frac{\partial L}{\partial w} = (a - y) (1 - a^2) x"])
    assert right.holds
    assert wrong.verdict == "not_equal" and "tanh" in wrong.diagnosis


@pytest.mark.parametrize("model, claim, words", [
    ([r"a = \sigma(w x + b)", r"L = \frac{1}{2}(a - y)^2"],
     r"\frac{\partial L}{\partial w} = 2(a - y) a (1 - a) x", "off by a factor of 1/2"),
    ([r"h_t = \tanh(W h_{t-1} + U x_t + b)", r"o_t = V h_t + c",
      r"L = \frac{1}{T}\sum_{t=1}^{T} \frac{1}{2}\|o_t - y_t\|^2"],
     r"\frac{\partial L}{\partial V} = \sum_{t=1}^T (o_t - y_t) h_t^\top", "off by a factor of 1/T (the mean"),
])
def test_a_constant_factor_of_a_scalar_or_a_forgotten_mean_is_named(model, claim, words):
    result = check(model=model, claims=[claim])[0]
    assert result.verdict == "not_equal" and words in result.diagnosis, result.diagnosis


def test_the_step_function_the_documents_print_for_relu_is_read_in_claims():
    model = [r"z = W x + b", r"a = \max(0, z)", r"o = V a + c", r"L = \frac{1}{2}\|o - y\|^2"]
    right, wrong = check(model=model, claims=[
        r"\frac{\partial L}{\partial W} = ((V^\top (o - y)) \odot \operatorname{step}(z)) x^\top",
        r"\frac{\partial L}{\partial W} = (V^\top (o - y)) x^\top"])
    assert right.holds
    assert wrong.verdict == "not_equal" and "the derivative of relu is missing" in wrong.diagnosis
