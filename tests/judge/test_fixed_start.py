"""A model that fixes its initial state (``h_0 = 0``): every command works, and claims are judged under it."""
import numpy as np
import pytest

import symderive as sd
from symderive.verify.numeric import central_differences

MODEL = [r"h_0 = 0", r"h_t = \tanh(W h_{t-1} + U x_t + b)", r"o_t = V h_t + c",
         r"L = \frac{1}{T}\sum_{t=1}^{T} \frac{1}{2}\|o_t - y_t\|^2"]


@pytest.fixture(scope="module")
def der():
    return sd.derive(model=MODEL, name="zero_start")


def test_h0_is_no_argument_and_the_document_says_so(der):
    module = der.load_module()
    assert "h0" not in module.SHAPES and "h_0 = 0" in der.to_latex("markdown").replace("{", "").replace("}", "")


def test_the_fixed_start_model_verifies(der):
    assert der.verify().passed


def test_the_export_matches_a_loss_by_hand(der):
    """Central differences of the mean loss with h_0 = 0, written here in NumPy."""
    rng = np.random.default_rng(1)
    n, d, q, T = 3, 2, 2, 5
    args = {"U": rng.normal(size=(n, d)), "V": rng.normal(size=(q, n)), "W": rng.normal(size=(n, n)) / 2,
            "b": rng.normal(size=n), "c": rng.normal(size=q), "x": rng.normal(size=(T, d)),
            "y": rng.normal(size=(T, q))}

    def loss(W):
        h, total = np.zeros(n), 0.0
        for t in range(T):
            h = np.tanh(W @ h + args["U"] @ args["x"][t] + args["b"])
            total += 0.5 * np.sum((args["V"] @ h + args["c"] - args["y"][t]) ** 2) / T
        return total

    module, W = der.load_module(), args["W"]
    numeric = central_differences(lambda a: loss(a["W"]), args, "W")
    assert module.loss(**args) == pytest.approx(loss(W), rel=1e-12)
    np.testing.assert_allclose(module.grad(**args)["W"], numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("claim, holds", [
    (r"\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2) W", True),
    # with h_0 = 0 the t = 1 term of the sum is 0, so a sum from 2 is right too
    (r"\frac{\partial L}{\partial W} = \sum_{t=2}^T (\frac{\partial L}{\partial h_t} \odot (1 - h_t^2)) h_{t-1}^\top",
     True),
    (r"\frac{\partial L}{\partial W} = \sum_{t=2}^T (\frac{\partial L}{\partial h_t} \odot (1 - h_t)) h_{t-1}^\top",
     False),
])
def test_claims_are_judged_under_the_fixed_start(der, claim, holds):
    result = der.check([claim])[0]
    assert result.verdict == ("equal" if holds else "not_equal"), result.diagnosis
