"""Window-truncated BPTT of a model whose loss enters the adjoint recurrence from the next step (a softmax state
with a log loss: the log-softmax is fused, so dL_{t+1}/dh_t is a term of the step after). The loss of step s
must enter at lag 1 only: the export crashed (a float where rows were expected) and, once it ran, the reference
interpreter and the export both counted that term at every lag. Checked by `verify`: sympy.diff of the truncated
loss, the reference interpreter and central differences of the truncated loss."""
import numpy as np

import symderive as sd

MODEL = [r"h_t = \operatorname{softmax}(W h_{t-1} + U x_t)", r"L = -\sum_{t=1}^{T} y_t^\top \log h_t"]


def test_window_truncation_of_a_loss_fused_into_the_next_step_verifies():
    report = sd.derive(model=MODEL).verify()
    rows = {row.quantity: row for row in report.rows}
    assert rows["all, truncated (window)"].passed and rows["all, truncated (blocks)"].passed
    assert report.passed


def test_a_window_of_two_steps_is_each_loss_through_its_own_two_steps():
    """K = 2: the loss of step s reaches steps s-1 and s, from h_{s-2} held constant; dL/dW and dL/dh0 are the
    sums of those windows' gradients (central differences of each window's loss, run here in NumPy)."""
    module = sd.derive(model=MODEL).load_module()
    rng = np.random.default_rng(0)
    a = {"U": rng.standard_normal((3, 2)), "W": rng.standard_normal((3, 3)), "h0": rng.random(3),
         "x": rng.standard_normal((5, 2)), "y": rng.random((5, 3))}
    g = module.grad(**a, truncate=2, truncate_mode="window")
    states = np.vstack([a["h0"], module.forward(**a)["h"]])  # states[s] = h_s

    def window_loss(W, s, h_start=None):
        """The loss of step s (1-based) through steps max(1, s-1)..s, from the state before them."""
        first = max(1, s - 1)
        h = states[first - 1] if h_start is None else h_start
        for step in range(first, s + 1):
            z = W @ h + a["U"] @ a["x"][step - 1]
            h = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        return -a["y"][s - 1] @ np.log(h)

    E = np.eye(9).reshape(9, 3, 3) * 1e-6
    want_W = sum(np.array([window_loss(a["W"] + e, s) - window_loss(a["W"] - e, s) for e in E]).reshape(3, 3) / 2e-6
                 for s in range(1, 6))
    want_h0 = sum(np.array([window_loss(a["W"], s, a["h0"] + e) - window_loss(a["W"], s, a["h0"] - e)
                            for e in np.eye(3) * 1e-6]) / 2e-6 for s in (1, 2))
    np.testing.assert_allclose(g["W"], want_W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g["h0"], want_h0, rtol=1e-6, atol=1e-8)
