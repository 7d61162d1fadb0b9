r"""Models with a softmax output and a cross-entropy loss, written with sd.Model: derived, rendered, exported and
verified three ways (symbolic proof, finite differences, torch autograd); the exported gradient is compared with
a torch model written here by hand (torch differentiates F.cross_entropy / F.log_softmax itself).

By hand: for L = -y^T log softmax(o), dL/do = softmax(o) (1^T y) - y, which is softmax(o) - y when y sums to 1.
"""
import numpy as np
import pytest

import symderive as sd
from symderive.ops.registry import VJP_RULES, Rule
from symderive.ops.softmax import Softmax

torch = pytest.importorskip("torch", reason="torch not installed (the external reference)")
F = torch.nn.functional


def softmax_rnn() -> sd.Model:
    m = sd.Model("softmax_rnn", latex_names={"y_hat": r"\hat{y}"})
    n, d, q = m.sizes("n d q")
    W_hh, W_xh, b_h = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b_h", n)
    W_hy, b_y = m.param("W_hy", q, n), m.param("b_y", q)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h = m.state("h", n)
    m.let(h, sd.sigmoid(W_hh @ h.prev + W_xh @ x + b_h))
    o = m.let("o", W_hy @ h + b_y)
    m.loss(sd.cross_entropy(o, y))
    return m


def dense_classifier() -> sd.Model:
    m = sd.Model("dense_softmax")
    n, d, q = m.sizes("n d q")
    W_1, b_1, W_2, b_2 = m.param("W_1", n, d), m.param("b_1", n), m.param("W_2", q, n), m.param("b_2", q)
    x, y = m.input("x", d), m.input("y", q)
    a = m.let("a", sd.relu(W_1 @ x + b_1))
    o = m.let("o", W_2 @ a + b_2)
    m.loss(sd.cross_entropy(o, y))
    return m


@pytest.fixture(scope="module")
def rnn():
    return sd.derive(softmax_rnn())


@pytest.fixture(scope="module")
def dense():
    return sd.derive(dense_classifier())


def one_hot(labels, q):
    return np.eye(q)[labels]


def rnn_arrays(rng, n=4, d=3, q=5, T=6, y=None):
    labels = rng.integers(0, q, size=T)
    return labels, {"W_hh": rng.standard_normal((n, n)) / 2, "W_xh": rng.standard_normal((n, d)),
                    "b_h": rng.standard_normal(n), "W_hy": rng.standard_normal((q, n)), "b_y": rng.standard_normal(q),
                    "h0": rng.standard_normal(n), "x": rng.standard_normal((T, d)),
                    "y": one_hot(labels, q) if y is None else y}


def torch_rnn_gradients(arrays, step_loss):
    """The model written in torch by hand; ``step_loss(o_t, t)`` is one step's loss."""
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    h, total = p["h0"], 0.0
    for t in range(arrays["x"].shape[0]):
        h = torch.sigmoid(p["W_hh"] @ h + p["W_xh"] @ p["x"][t] + p["b_h"])
        total = total + step_loss(p["W_hy"] @ h + p["b_y"], p["y"][t], t)
    total.backward()
    return float(total.detach()), {k: v.grad.numpy() for k, v in p.items() if v.grad is not None}


def assert_gradients_agree(ours, theirs, names):
    for name in names:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_the_rnn_document_shows_the_softmax_and_the_gradient_by_hand(rnn):
    text = rnn.to_latex("markdown")
    assert r"L = \sum_{t=1}^{T} - y_{t}^{\top} \log\operatorname{softmax}\left(o_{t}\right)" in text
    # dL/do_t = softmax(o_t) (1^T y_t) - y_t, as derived by hand above
    assert (r"\bar{o}_{t} = \frac{\partial L}{\partial o_{t}} = \left(\mathbf{1}^{\top} y_{t}\right) "
            r"\operatorname{softmax}\left(o_{t}\right) - y_{t}") in text
    assert r"\bar z = \bar p - \operatorname{softmax}(z)\,(\mathbf{1}^\top \bar p)" in text  # the rule, cited
    row = rnn.to_latex("latex", layout="row")
    assert r"o_{t} &= h_{t} W_{hy} + b_{y}" in row
    assert r"\left(y_{t} \mathbf{1}\right) \operatorname{softmax}\left(o_{t}\right) - y_{t}" in row
    assert r"\bar z = \bar p - (\bar p\, \mathbf{1})\operatorname{softmax}(z)" in row


def test_the_rnn_export_agrees_with_torch_cross_entropy(rnn):
    module = rnn.load_module()
    labels, arrays = rnn_arrays(np.random.default_rng(3))
    # targets as probabilities (one-hot rows), so that torch also differentiates with respect to y
    theirs_loss, theirs = torch_rnn_gradients(arrays, lambda o, y, t: F.cross_entropy(o[None], y[None]))
    by_label, _ = torch_rnn_gradients(arrays, lambda o, y, t: F.cross_entropy(o[None], torch.tensor([int(labels[t])])))
    assert module.loss(**arrays) == pytest.approx(theirs_loss, rel=1e-12)
    assert by_label == pytest.approx(theirs_loss, rel=1e-12)
    assert_gradients_agree(module.grad(**arrays), theirs, arrays)


def test_the_rnn_export_agrees_with_torch_log_softmax_for_targets_that_do_not_sum_to_one(rnn):
    rng = np.random.default_rng(4)
    _, arrays = rnn_arrays(rng, y=rng.uniform(0.0, 2.0, size=(6, 5)))  # soft, unnormalised targets
    theirs_loss, theirs = torch_rnn_gradients(arrays, lambda o, y, t: -(y * F.log_softmax(o, dim=0)).sum())
    module = rnn.load_module()
    assert module.loss(**arrays) == pytest.approx(theirs_loss, rel=1e-12)
    assert_gradients_agree(module.grad(**arrays), theirs, arrays)


def test_the_rnn_is_verified_three_ways(rnn):
    report = rnn.verify()
    assert report.passed, report.table()
    rows = [r for r in report.rows if r.quantity.startswith("dL/d")]
    assert {r.quantity for r in rows} == {f"dL/d{k}" for k in ("W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "x", "y")}
    assert all(r.symbolic is True for r in rows)
    assert all(r.reference.startswith("torch ok") for r in rows), [r.reference for r in rows]


def test_the_dense_classifier_document_and_export(dense):
    text = dense.to_latex("markdown")
    by_hand = r"\left(\mathbf{1}^{\top} y\right) \operatorname{softmax}\left(o\right) - y"  # softmax(o) (1^T y) - y
    assert r"\frac{\partial L}{\partial b_{2}} = " + by_hand in text
    module = dense.load_module()
    rng = np.random.default_rng(5)
    n, d, q = 6, 4, 3
    label = 2
    arrays = {"W_1": rng.standard_normal((n, d)), "b_1": rng.standard_normal(n), "W_2": rng.standard_normal((q, n)),
              "b_2": rng.standard_normal(q), "x": rng.standard_normal(d), "y": one_hot(label, q)}
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    o = p["W_2"] @ torch.relu(p["W_1"] @ p["x"] + p["b_1"]) + p["b_2"]
    loss = F.cross_entropy(o[None], p["y"][None])  # the one-hot target as probabilities
    loss.backward()
    value = float(loss.detach())
    assert float(F.cross_entropy(o[None].detach(), torch.tensor([label]))) == pytest.approx(value, rel=1e-12)
    assert module.loss(**arrays) == pytest.approx(value, rel=1e-12)
    assert_gradients_agree(module.grad(**arrays), {k: v.grad.numpy() for k, v in p.items()}, arrays)


def test_the_dense_classifier_is_verified_three_ways(dense):
    report = dense.verify()
    assert report.passed, report.table()
    rows = [r for r in report.rows if r.quantity.startswith("dL/d")]
    assert rows and all(r.symbolic is True and r.reference.startswith("torch ok") for r in rows), report.table()


def test_the_export_survives_large_logits(dense):
    module = dense.load_module()
    rng = np.random.default_rng(6)
    arrays = {"W_1": rng.standard_normal((4, 3)), "b_1": rng.standard_normal(4),
              "W_2": 500.0 * rng.standard_normal((3, 4)), "b_2": np.zeros(3), "x": rng.standard_normal(3),
              "y": one_hot(0, 3)}
    grads = module.grad(**arrays)
    assert np.isfinite(module.loss(**arrays)) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_the_verification_fails_on_a_softmax_rule_that_forgets_the_normalisation(monkeypatch):
    """diag(s) g instead of (diag(s) - s s^T) g, a common slip: every check that sees it must fail."""
    monkeypatch.setitem(VJP_RULES, Softmax, Rule(lambda node, g, ans, functions: [(node.arg, sd.hadamard(ans, g))],
                                                 "wrong"))
    m = sd.Model("wrong_softmax")
    n, d = m.sizes("n d")
    W, x, y = m.param("W", n, d), m.input("x", d), m.input("y", n)
    s = m.let("s", sd.softmax(W @ x))
    m.loss(sd.squared_norm(s - y) / 2)
    report = sd.derive(m).verify()
    row = next(r for r in report.rows if r.quantity == "dL/dW")
    assert not report.passed and row.symbolic is False and not row.allclose
    assert not row.reference.startswith("torch ok")
