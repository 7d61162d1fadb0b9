"""The student's model of issue 14 — a sigmoid RNN with a softmax output, in rows — read from LaTeX, derived with
the log of the softmax fused into a log-softmax, verified three ways, and its usual claims judged."""
import numpy as np
import pytest

import symderive as sd
from symderive.verify.numeric import central_differences

STUDENT = [r"H_t = \sigma(X_t W_{xh} + H_{t-1} W_{hh} + b_h)", r"O_t = H_t W_{hq} + b_q",
           r"\hat Y_t = \operatorname{softmax}(O_t)", r"L = -\sum_{t=1}^{T} Y_t \log \hat Y_t^\top"]


@pytest.fixture(scope="module")
def student():
    return sd.derive(model=STUDENT, name="student")


def test_the_log_of_the_softmax_is_read_as_a_log_softmax(student):
    r"""The adjoint of the logits is the compact (Y_t 1) softmax(O_t) - Y_t, not a softmax rule applied to -Y_t / P_t;
    the softmax is written as the model's name for it, \hat Y_t."""
    text = student.to_latex("markdown")
    assert r"\bar{O}_{t} = \frac{\partial L}{\partial O_{t}} = \left(Y_{t} \mathbf{1}\right) \hat Y_{t} - Y_{t}" in text
    assert r"\circ -1" not in text


def test_the_student_model_verifies_three_ways(student):
    assert student.verify().passed


def test_the_exported_gradient_matches_the_loss_by_hand(student):
    """Central differences of -sum_t Y_t log softmax(O_t)^T written here in NumPy."""
    module = student.load_module()
    rng = np.random.default_rng(3)
    n, d, q, T = 3, 4, 5, 4
    args = {"W_hh": rng.normal(size=(n, n)), "W_hq": rng.normal(size=(n, q)), "W_xh": rng.normal(size=(d, n)),
            "b_h": rng.normal(size=n), "b_q": rng.normal(size=q), "H0": rng.normal(size=n),
            "X": rng.normal(size=(T, d)), "Y": rng.normal(size=(T, q))}

    def loss(W_hq):
        H, total = args["H0"], 0.0
        for t in range(T):
            H = 1 / (1 + np.exp(-(args["X"][t] @ args["W_xh"] + H @ args["W_hh"] + args["b_h"])))
            logits = H @ W_hq + args["b_q"]
            total -= args["Y"][t] @ (logits - np.log(np.exp(logits).sum()))
        return total

    W = args["W_hq"]
    numeric = central_differences(lambda a: loss(a["W_hq"]), args, "W_hq")
    assert module.loss(**args) == pytest.approx(loss(W), rel=1e-12)
    np.testing.assert_allclose(module.grad(**args)["W_hq"], numeric, rtol=1e-6, atol=1e-8)


def test_p_minus_y_is_wrong_in_general_and_the_condition_is_named(student):
    """softmax(o) - y is the gradient only for targets that sum to 1; the checker says so."""
    result = student.check([r"\frac{\partial L}{\partial W_{hq}} = \sum_{t=1}^{T} H_t^\top (\hat Y_t - Y_t)"])[0]
    assert result.verdict == "not_equal" and "holds when every target Y_t sums to 1" in result.diagnosis


def test_the_general_gradient_holds(student):
    claim = r"\frac{\partial L}{\partial W_{hq}} = \sum_{t=1}^{T} H_t^\top \frac{\partial L}{\partial O_t}"
    assert student.check([claim])[0].holds


def test_a_claim_wrong_even_for_one_hot_targets_does_not_name_the_condition(student):
    result = student.check([r"\frac{\partial L}{\partial W_{hq}} = \sum_{t=1}^{T} H_t^\top (\hat Y_t + Y_t)"])[0]
    assert result.verdict == "not_equal" and "sums to 1" not in result.diagnosis


def test_the_exported_gradients_agree_with_torch_to_1e_9(student):
    """torch, written here by hand: F.cross_entropy with probability targets is -sum_k y_k log softmax(o)_k."""
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    rng = np.random.default_rng(5)
    n, d, q, T = 4, 3, 5, 6
    args = {"W_hh": rng.normal(size=(n, n)) / 2, "W_hq": rng.normal(size=(n, q)), "W_xh": rng.normal(size=(d, n)),
            "b_h": rng.normal(size=n), "b_q": rng.normal(size=q), "H0": rng.normal(size=n),
            "X": rng.normal(size=(T, d)), "Y": rng.normal(size=(T, q))}
    ts = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in args.items()}
    H, total = ts["H0"], 0.0
    for t in range(T):
        H = torch.sigmoid(ts["X"][t] @ ts["W_xh"] + H @ ts["W_hh"] + ts["b_h"])
        logits = H @ ts["W_hq"] + ts["b_q"]
        total = total + torch.nn.functional.cross_entropy(logits[None], ts["Y"][t][None], reduction="sum")
    total.backward()
    grads = student.load_module().grad(**args)
    for name, tensor in ts.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("claim, verdict, words", [
    (r"\frac{\partial H_t}{\partial H_{t-1}} = W_{hh} \operatorname{diag}(H_t \odot (1 - H_t))", "equal", ""),
    (r"\frac{\partial H_3}{\partial H_1} = W_{hh}\operatorname{diag}(H_2 \odot (1-H_2)) "
     r"W_{hh}\operatorname{diag}(H_3 \odot (1-H_3))", "equal", ""),
    (r"\frac{\partial H_t}{\partial H_{t-1}} = \operatorname{diag}(H_t \odot (1 - H_t)) W_{hh}", "not_equal",
     "stands on the right"),
])
def test_jacobians_of_a_row_model_are_in_the_denominator_layout(student, claim, verdict, words):
    """As the row document writes them (du = dv J): dH_t/dH_{t-1} = W_hh diag(sigma'), products run left to right."""
    result = student.check([claim])[0]
    assert result.verdict == verdict and words in result.diagnosis, result.diagnosis
    assert "d__seed" not in result.diagnosis
