r"""sqrt, division and numeric powers, the sum of entries and binary cross-entropy, end to end: derived, rendered,
exported, verified three ways, and the export compared with torch models written here by hand.

    sqrt'(z) = 1 / (2 sqrt(z));   (a / b) = a ⊙ b^{∘-1};   BCE(p, y) = -sum(y ⊙ log p + (1 - y) ⊙ log(1 - p))
"""
import numpy as np
import pytest

import symderive as sd


def squashed() -> sd.Model:
    """u = p / sqrt(p^2 + 1) in (0, 1/sqrt 2) for p = sigma(W x + b); L = BCE(u, y) + 1^T r."""
    m = sd.Model("squashed")
    n, d = m.sizes("n d")
    W, b, x, y = m.param("W", n, d), m.param("b", n), m.input("x", d), m.input("y", n)
    p = m.let("p", sd.sigmoid(W @ x + b))
    r = m.let("r", sd.sqrt(sd.power(p, 2) + sd.ones_like(p)))
    u = m.let("u", sd.divide(p, r))
    m.loss(sd.binary_cross_entropy(u, y) + sd.sum_entries(r))
    return m


def bce_rnn() -> sd.Model:
    m = sd.Model("bce_rnn")
    n, d, q = m.sizes("n d q")
    W, U, V = m.param("W", n, n), m.param("U", n, d), m.param("V", q, n)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h = m.state("h", n)
    m.let(h, sd.tanh(W @ h.prev + U @ x))
    p = m.let("p", sd.sigmoid(V @ h))
    m.loss(sd.binary_cross_entropy(p, y))
    return m


@pytest.fixture(scope="module")
def dense():
    return sd.derive(squashed())


@pytest.fixture(scope="module")
def rnn():
    return sd.derive(bce_rnn())


def test_the_document(dense):
    text = dense.to_latex("markdown")
    assert r"r = \sqrt{p \odot p + 1}" in text
    assert r"u = p \odot r^{\circ -1}" in text  # p / r = p ⊙ r^{∘-1}, the numerator first as written
    assert r"(\sqrt{z})' = \frac{1}{2\sqrt{z}}" in text  # the rule, cited
    assert r"\log\left(1 - u\right)" in text


@pytest.mark.parametrize("name", ["dense", "rnn"])
def test_verified_three_ways(name, request):
    report = request.getfixturevalue(name).verify()
    assert report.passed, report.table()
    rows = [r for r in report.rows if r.quantity.startswith("dL/d")]
    assert rows and all(r.symbolic is True for r in rows), report.table()


def torch_gradients(arrays, loss_of):
    torch = pytest.importorskip("torch", reason="torch not installed (the external reference)")
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    loss = loss_of(torch, p)
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}


def test_the_dense_export_agrees_with_torch(dense):
    rng = np.random.default_rng(11)
    arrays = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(4), "x": rng.standard_normal(3),
              "y": rng.uniform(0.05, 0.95, 4)}

    def loss_of(torch, p):
        s = torch.sigmoid(p["W"] @ p["x"] + p["b"])
        r = torch.sqrt(s * s + 1)
        return torch.nn.functional.binary_cross_entropy(s / r, p["y"], reduction="sum") + r.sum()

    value, theirs = torch_gradients(arrays, loss_of)
    module = dense.load_module()
    assert module.loss(**arrays) == pytest.approx(value, rel=1e-12)
    ours = module.grad(**arrays)
    for name in arrays:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_the_rnn_export_agrees_with_torch(rnn):
    rng = np.random.default_rng(12)
    n, d, q, T = 3, 2, 4, 5
    arrays = {"W": rng.standard_normal((n, n)) / 2, "U": rng.standard_normal((n, d)), "V": rng.standard_normal((q, n)),
              "h0": rng.standard_normal(n), "x": rng.standard_normal((T, d)), "y": rng.uniform(0, 1, (T, q))}

    def loss_of(torch, p):
        h, total = p["h0"], 0.0
        for t in range(T):
            h = torch.tanh(p["W"] @ h + p["U"] @ p["x"][t])
            p_t = torch.sigmoid(p["V"] @ h)
            total = total + torch.nn.functional.binary_cross_entropy(p_t, p["y"][t], reduction="sum")
        return total

    value, theirs = torch_gradients(arrays, loss_of)
    module = rnn.load_module()
    assert module.loss(**arrays) == pytest.approx(value, rel=1e-12)
    ours = module.grad(**arrays)
    for name in arrays:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_power_takes_a_number():
    m = sd.Model("m")
    n, = m.sizes("n")
    v = m.param("v", n)
    with pytest.raises(sd.ModelError, match="power takes a number as the exponent"):
        sd.power(v, n)
