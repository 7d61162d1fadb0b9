"""Adding an elementwise function is one registration (issue "One house"): softsign, registered in this
test and nowhere else, gets a derivation, LaTeX, an export, three-way verification and LaTeX reading.

    softsign(z) = z / (1 + |z|),   softsign'(z) = 1 / (1 + |z|)^2 = (1 - |softsign(z)|)^2
"""
import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.ops.registry import ACTIVATIONS


class softsign(sp.Function):
    """z / (1 + |z|); its derivative written through its value, (1 - |softsign(z)|)^2."""

    def fdiff(self, argindex=1):
        return (1 - sp.Abs(softsign(self.args[0]))) ** 2


@pytest.fixture(scope="module")
def registered():
    sd.deffunction(
        "softsign", scalar=softsign,
        derivative=lambda ans, z: sp.HadamardPower(sd.ones_like(ans) - sd.apply("abs", ans), 2),
        rule=r"\operatorname{softsign}'(z) = (1 - |\operatorname{softsign}(z)|)^2",
        numpy="({0} / (1.0 + np.abs({0})))", reference=lambda x: x / (1.0 + np.abs(x)),
        latex=r"\operatorname{softsign}", words=("softsign",),
        torch=lambda torch, x: torch.nn.functional.softsign(x))
    yield
    del ACTIVATIONS["softsign"]


def softsign_rnn() -> sd.Model:
    m = sd.Model("softsign_rnn")
    n, d = m.sizes("n d")
    W, U, b = m.param("W", n, n), m.param("U", n, d), m.param("b", n)
    x, y = m.sequence("x", d), m.sequence("y", n)
    h = m.state("h", n)
    m.let(h, sd.apply("softsign", W @ h.prev + U @ x + b))
    m.loss(sd.squared_norm(h - y) / 2)
    return m


@pytest.fixture(scope="module")
def derived(registered):
    return sd.derive(softsign_rnn())


def test_the_derivation_uses_the_registered_derivative(derived):
    text = derived.to_latex("markdown")
    assert r"\operatorname{softsign}\left(" in text
    assert r"\operatorname{softsign}'(z) = (1 - |\operatorname{softsign}(z)|)^2" in text  # the rule, cited
    assert r"\operatorname{abs}\left(h_{t}\right)" in text  # f' through the output
    assert derived.to_latex("latex", layout="row", bold=True)


def test_the_export_agrees_with_the_formula_written_by_hand(derived):
    module = derived.load_module()
    rng = np.random.default_rng(1)
    n, d, T = 3, 2, 4
    W, U, b = rng.standard_normal((n, n)) / 2, rng.standard_normal((n, d)), rng.standard_normal(n)
    x, y, h0 = rng.standard_normal((T, d)), rng.standard_normal((T, n)), rng.standard_normal(n)
    grads = module.grad(W=W, U=U, b=b, h0=h0, x=x, y=y)
    hs, h = [h0], h0
    for t in range(T):  # forward, then BPTT by hand: delta_t = (h_t - y_t) + W^T (softsign' ⊙ delta_{t+1})
        z = W @ h + U @ x[t] + b
        h = z / (1 + np.abs(z))
        hs.append(h)
    dW, carry = np.zeros_like(W), np.zeros(n)
    for t in range(T, 0, -1):
        dz = ((hs[t] - y[t - 1]) + carry) * (1 - np.abs(hs[t])) ** 2
        dW += np.outer(dz, hs[t - 1])
        carry = W.T @ dz
    np.testing.assert_allclose(grads["W"], dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["h0"], carry, rtol=1e-12, atol=1e-12)


def test_three_way_verification_passes(derived):
    report = derived.verify()
    assert report.passed, report.table()
    gradient_rows = [r for r in report.rows if r.quantity.startswith("dL/d")]
    assert {r.quantity for r in gradient_rows} == {"dL/dW", "dL/dU", "dL/db", "dL/dh0", "dL/dx", "dL/dy"}
    assert all(r.symbolic is True for r in gradient_rows)  # proved at the small size


def test_torch_autograd_agrees(derived):
    pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    rows = [r for r in derived.verify().rows if r.quantity.startswith("dL/d")]
    assert rows and all(r.reference.startswith("torch ok") for r in rows), [r.reference for r in rows]


def test_the_checker_reads_it_in_latex(registered):
    model = [r"h = \operatorname{softsign}(W x)", r"L = \frac{1}{2}\|h - y\|^2"]
    slope = r"(1 - \operatorname{abs}(h)) \odot (1 - \operatorname{abs}(h))"
    right = rf"\frac{{\partial L}}{{\partial W}} = ((h - y) \odot {slope}) x^T"
    wrong = r"\frac{\partial L}{\partial W} = ((h - y) \odot (1 - h \odot h)) x^T"
    verdicts = [r.verdict for r in sd.check(model=model, claims=[right, wrong])]
    assert verdicts == ["equal", "not_equal"]
