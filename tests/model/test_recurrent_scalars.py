"""Recurrent models beyond the built-ins through the public API: a scalar RNN (by sympy.diff of the
unrolled loss), the mean over steps, a fixed initial state h_0 = 0, two stacked layers and a model
written in row vectors (against a torch program written here by hand)."""
import math

import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive import ModelError
from symderive.matrix.derive import state_jacobian
from symderive.matrix.latex_printer import to_latex
from symderive.verify.matrix_checks import jacobian_check

XS, YS = [0.5, -1.2, 0.3], [0.1, 0.4, -0.2]
W0, U0, H00 = 0.9, -0.6, 0.25


def scalar_rnn(mean=False, initial=None) -> sd.Model:
    """h_t = tanh(w h_{t-1} + u x_t), L = sum_t (h_t - y_t)^2 / 2 (or its mean), every value a scalar."""
    m = sd.Model("scalar_rnn")
    w, u, x, y = m.param("w"), m.param("u"), m.sequence("x"), m.sequence("y")
    h = m.state("h", initial=initial)
    m.let(h, sd.tanh(w @ h.prev + u @ x))
    m.loss((h - y) ** 2 / 2, mean=mean)
    return m


def unrolled(mean: bool, fixed: bool) -> dict:
    """dL/dv by sympy.diff of the loss unrolled by hand over the three steps, at (W0, U0, H00, XS, YS)."""
    w, u, h0 = sp.symbols("w u h0", real=True)
    xs, ys = sp.symbols("x1:4", real=True), sp.symbols("y1:4", real=True)
    h, L = (sp.S.Zero if fixed else h0), sp.S.Zero
    for x, y in zip(xs, ys):
        h = sp.tanh(w * h + u * x)
        L += (h - y) ** 2 / 2
    L = L / 3 if mean else L
    at = {w: W0, u: U0, h0: H00, **dict(zip(xs, XS)), **dict(zip(ys, YS))}
    grads = {"w": float(sp.diff(L, w).subs(at)), "u": float(sp.diff(L, u).subs(at)),
             "x": [float(sp.diff(L, x).subs(at)) for x in xs], "y": [float(sp.diff(L, y).subs(at)) for y in ys]}
    if not fixed:
        grads["h0"] = float(sp.diff(L, h0).subs(at))
    return grads


@pytest.mark.parametrize("mean", [False, True])
@pytest.mark.parametrize("fixed", [False, True])
def test_scalar_rnn_gradients_are_those_of_the_unrolled_loss(mean, fixed):
    module = sd.derive(scalar_rnn(mean, 0 if fixed else None)).load_module()
    args = {"w": W0, "u": U0, "x": XS, "y": YS, **({} if fixed else {"h0": H00})}
    grads = module.grad(**args)
    expected = unrolled(mean, fixed)
    assert set(grads) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-12, atol=1e-14, err_msg=name)


def test_scalar_rnn_document_module_and_verification():
    der = sd.derive(scalar_rnn(), extra_checks=(jacobian_check("h", "h"),))  # dh_t/dh_{t-1} by differences
    assert to_latex(state_jacobian(der.program, "h", "h")) == r"\left(1 - h_{t}^{2}\right) w"
    text = der.to_latex()
    assert r"h_{t} &= \tanh\left(u x_{t} + w h_{t-1}\right)" in text
    assert (r"\bar{h}_{t} = \frac{\partial L}{\partial h_{t}} &= "
            r"h_{t} - y_{t} + w \bar{h}_{t+1} \left(1 - h_{t+1}^{2}\right)") in text
    assert r"\odot" not in text and r"\top" not in text
    assert "SHAPES = {'w': (), 'u': (), 'h0': (), 'x': ('T',), 'y': ('T',)}" in der.module_source()
    report = der.verify()
    assert report.passed, report.table()


def test_the_mean_over_steps():
    der = sd.derive(scalar_rnn(mean=True))
    assert r"L &= \frac{1}{T} \sum_{t=1}^{T} \frac{1}{2} \left(h_{t} - y_{t}\right)^{2}" in der.to_latex()
    module = der.load_module()
    L = module.loss(w=W0, u=U0, h0=H00, x=XS, y=YS)
    h, total = H00, 0.0
    for x, y in zip(XS, YS):
        h = math.tanh(W0 * h + U0 * x)
        total += (h - y) ** 2 / 2
    assert math.isclose(L, total / 3, rel_tol=1e-14)
    report = der.verify()
    assert report.passed, report.table()


def test_a_loss_divided_by_the_number_of_steps_is_the_mean():
    m = sd.Model("by_T")
    w, u, x, y = m.param("w"), m.param("u"), m.sequence("x"), m.sequence("y")
    h = m.state("h")
    m.let(h, sd.tanh(w @ h.prev + u @ x))
    m.loss((h - y) ** 2 / (2 * sd.model.T))
    der = sd.derive(m)
    assert r"L &= \frac{1}{T} \sum_{t=1}^{T}" in der.to_latex()
    grads = der.load_module().grad(w=W0, u=U0, h0=H00, x=XS, y=YS)
    for name, value in unrolled(mean=True, fixed=False).items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-12, atol=1e-14, err_msg=name)


def test_a_fixed_initial_state_is_no_argument():
    der = sd.derive(scalar_rnn(initial=0))
    assert "h0" not in der.module_source().split("SHAPES = ")[1].splitlines()[0]
    assert "from the initial state $h_{0} = 0$" in der.to_latex()
    assert r"\partial h_{0}" not in der.to_latex()
    report = der.verify()
    assert report.passed, report.table()


def test_mean_and_initial_refuse_what_they_cannot_mean():
    m = sd.Model("dense")
    a = m.let("a", sd.tanh(m.param("w") @ m.input("x")))
    with pytest.raises(ModelError, match="no steps"):
        m.loss(a, mean=True)
    with pytest.raises(ModelError, match="argument name or 0"):
        sd.Model("r").state("h", 2, initial=1)


def stacked() -> sd.Model:
    """h1_t = tanh(W1 x_t + U1 h1_{t-1}), h2_t = tanh(W2 h1_t + U2 h2_{t-1}), L = sum_t ||h2_t - y_t||^2 / 2."""
    m = sd.Model("stacked")
    n, d, k = m.sizes("n d k")
    W1, U1, W2, U2 = m.param("W1", n, d), m.param("U1", n, n), m.param("W2", k, n), m.param("U2", k, k)
    x, y = m.sequence("x", d), m.sequence("y", k)
    h1, h2 = m.state("h1", n), m.state("h2", k, initial=0)
    m.let(h1, sd.tanh(W1 @ x + U1 @ h1.prev))
    m.let(h2, sd.tanh(W2 @ h1 + U2 @ h2.prev))
    m.loss(sd.squared_norm(h2 - y) / 2)
    return m


def test_two_stacked_layers():
    der = sd.derive(stacked())
    text = der.to_latex()
    # the lower layer's adjoint: from the upper layer at t and from its own next step
    assert (r"\bar{h}_{1,t} = \frac{\partial L}{\partial h_{1,t}} &= W_{2}^{\top} \left(\bar{h}_{2,t} \odot "
            r"\left(1 - h_{2,t} \odot h_{2,t}\right)\right)") in text
    assert r"U_{1}^{\top} \left(\bar{h}_{1,t+1} \odot" in text
    assert r"h_{1,0} \in \mathbb{R}^{n}" in text and r"h_{2,0} = 0" in text
    report = der.verify()
    assert report.passed, report.table()


def row_rnn() -> sd.Model:
    """h_t = tanh(x_t W_xh + h_{t-1} W_hh + b), o_t = h_t W_hy, with x_t: 1 x d rows."""
    m = sd.Model("row_rnn")
    n, d, q = m.sizes("n d q")
    W_xh, W_hh, b, W_hy = m.param("W_xh", d, n), m.param("W_hh", n, n), m.param("b", 1, n), m.param("W_hy", n, q)
    x, y = m.sequence("x", 1, d), m.sequence("y", 1, q)
    h = m.state("h", 1, n)
    m.let(h, sd.tanh(x @ W_xh + h.prev @ W_hh + b))
    o = m.let("o", h @ W_hy)
    m.loss(sd.squared_norm(o - y) / 2)
    return m


def test_a_model_written_in_rows():
    der = sd.derive(row_rnn())
    text = der.to_latex()
    assert r"h_{t} &= \tanh\left(h_{t-1} W_{hh} + x_{t} W_{xh} + b\right)" in text
    assert "Vectors are rows" in text
    assert r"\frac{\partial L}{\partial W_{xh}} &= \sum_{t=1}^{T} x_{t}^{\top} \left(" in text
    assert "SHAPES = {'W_xh': ('d', 'n'), 'W_hh': ('n', 'n'), 'b': ('n',), 'W_hy': ('n', 'q'), 'h0': ('n',), " \
           "'x': ('T', 'd'), 'y': ('T', 'q')}" in der.module_source()
    report = der.verify()
    assert report.passed, report.table()


def test_a_model_written_in_rows_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    T, d, n, q = 5, 3, 4, 2
    arrays = {"W_xh": rng.standard_normal((d, n)) / 2, "W_hh": rng.standard_normal((n, n)) / 2,
              "b": rng.standard_normal(n), "W_hy": rng.standard_normal((n, q)), "h0": rng.standard_normal(n),
              "x": rng.standard_normal((T, d)), "y": rng.standard_normal((T, q))}
    grads = sd.derive(row_rnn()).load_module().grad(**arrays)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    h, L = leaves["h0"], 0
    for s in range(T):  # the model's equations, written in torch here
        h = torch.tanh(leaves["x"][s] @ leaves["W_xh"] + h @ leaves["W_hh"] + leaves["b"])
        L = L + ((h @ leaves["W_hy"] - leaves["y"][s]) ** 2).sum() / 2
    L.backward()
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
