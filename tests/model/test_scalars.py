"""Scalars end to end through the public API: a 1 x 1 value is a scalar in the document, the exported
module and the verification. Expected gradients come from ``sympy.diff`` of the scalar loss written out
by hand, never from the code under test."""
import math

import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive import ModelError
from symderive.model import times

W, B, X, Y = sp.symbols("w b x y", real=True)
POINT = {"w": 0.7, "b": -0.3, "x": 1.3, "y": 0.2}


def student(loss) -> sd.Model:
    """a = sigma(w x + b) with the loss ``loss(a, y)``, every value a scalar (no sizes given)."""
    m = sd.Model("student")
    w, b, x, y = m.param("w"), m.param("b"), m.input("x"), m.input("y")
    a = m.let("a", sd.sigmoid(w @ x + b))
    m.loss(loss(a, y))
    return m


def by_hand(loss) -> dict:
    """dL/dv of ``loss(sigma(w x + b), y)`` by sympy.diff, at POINT."""
    a = 1 / (1 + sp.exp(-(W * X + B)))
    L = loss(a, Y)
    at = {W: POINT["w"], B: POINT["b"], X: POINT["x"], Y: POINT["y"]}
    return {str(s): float(sp.diff(L, s).subs(at)) for s in (W, B, X, Y)}


# (the model's loss, the same loss of scalars written for sympy)
LOSSES = {
    "squared norm": (lambda a, y: sd.squared_norm(a - y) / 2, lambda a, y: (a - y) ** 2 / 2),
    "square": (lambda a, y: (a - y) ** 2 / 2, lambda a, y: (a - y) ** 2 / 2),
    "L = a": (lambda a, y: a, lambda a, y: a),
    "a^2": (lambda a, y: a ** 2, lambda a, y: a ** 2),
    "a^3": (lambda a, y: sp.HadamardPower(a, 3), lambda a, y: a ** 3),
    "log": (lambda a, y: -sd.log(a) / 2, lambda a, y: -sp.log(a) / 2),
    "product": (lambda a, y: a @ y, lambda a, y: a * y),
    "binary cross-entropy": (
        lambda a, y: -(y @ sd.log(a) + (sp.OneMatrix(1, 1) - y) @ sd.log(sp.OneMatrix(1, 1) - a)),
        lambda a, y: -(y * sp.log(a) + (1 - y) * sp.log(1 - a))),
    "softplus minus": (lambda a, y: sd.softplus(a) - times(a, y), lambda a, y: sp.log(1 + sp.exp(a)) - a * y),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_any_scalar_loss_has_the_gradient_of_sympy_diff(name):
    model_loss, scalar_loss = LOSSES[name]
    module = sd.derive(student(model_loss)).load_module()
    grads = module.grad(**POINT)  # plain floats are accepted
    for arg, expected in by_hand(scalar_loss).items():
        assert np.shape(grads[arg]) == ()
        assert math.isclose(float(grads[arg]), expected, rel_tol=1e-12, abs_tol=1e-14), (arg, grads[arg], expected)


@pytest.mark.parametrize("name", ["square", "L = a", "log"])
def test_any_scalar_loss_verifies(name):
    report = sd.derive(student(LOSSES[name][0])).verify()
    assert report.passed, report.table()


def test_the_students_first_model_reads_as_scalars():
    der = sd.derive(student(LOSSES["squared norm"][0]))
    text = der.to_latex("markdown")
    for expected in (r"a = \sigma\left(w x + b\right)", r"L = \frac{1}{2} \left(a - y\right)^{2}",
                     r"w \in \mathbb{R}$", r"\frac{\partial L}{\partial w} = \left(a - y\right) a \left(1 - a\right) x",
                     r"\frac{\partial L}{\partial x} = w \left(a - y\right) a \left(1 - a\right)"):  # (a - y) sigma'
        assert expected in text, expected
    for wrong in (r"\top", r"\odot", r"\mathbb{I}", r"\mathbb{R}^{1}", "Vectors are columns"):
        assert wrong not in text, wrong
    bold = der.to_latex("markdown", bold=True)
    assert r"\mathbf{w}" not in bold and r"\mathbf{1}" not in bold


def test_the_students_module_takes_floats_and_runs():
    source = sd.derive(student(LOSSES["squared norm"][0])).module_source()
    assert "SHAPES = {'w': (), 'b': (), 'x': (), 'y': ()}" in source
    for wrong in ("np.outer", "eye(", "     = "):
        assert wrong not in source
    namespace = {}
    exec(compile(source, "student", "exec"), namespace)
    L = namespace["loss"](**POINT)
    a = 1 / (1 + math.exp(-(POINT["w"] * POINT["x"] + POINT["b"])))
    assert math.isclose(L, (a - POINT["y"]) ** 2 / 2, rel_tol=1e-14)
    assert math.isclose(float(namespace["forward"](**POINT)["a"]), a, rel_tol=1e-14)


def test_a_scalar_times_a_vector_is_a_scalar_multiple():
    m = sd.Model("scaled")
    n = m.sizes("n")[0]
    c, v, y = m.param("c"), m.param("v", n), m.input("y", n)
    a = m.let("a", sd.tanh(times(c, v)))
    m.loss(sd.squared_norm(a - y) / 2)
    der = sd.derive(m)
    text = der.to_latex()
    assert r"a &= \tanh\left(c v\right)" in text
    assert r"\frac{\partial L}{\partial v} &= c \left(" in text
    assert der.verify().passed
    # by hand: dL/dc = sum_i (a_i - y_i)(1 - a_i^2) v_i, dL/dv = c (a - y)(1 - a^2)
    rng = np.random.default_rng(3)
    vv, yy = rng.standard_normal(4), rng.standard_normal(4)
    grads = der.load_module().grad(c=0.8, v=vv, y=yy)
    aa = np.tanh(0.8 * vv)
    np.testing.assert_allclose(grads["c"], np.sum((aa - yy) * (1 - aa ** 2) * vv), rtol=1e-12)
    np.testing.assert_allclose(grads["v"], 0.8 * (aa - yy) * (1 - aa ** 2), rtol=1e-12)


def test_a_sum_of_entries_is_a_loss():
    m = sd.Model("sums")
    n, d = m.sizes("n d")
    W, x = m.param("W", n, d), m.input("x", d)
    a = m.let("a", sd.tanh(W @ x))
    m.loss(sp.OneMatrix(n, 1).T @ a)
    der = sd.derive(m)
    assert r"L &= \mathbf{1}^{\top} a" in der.to_latex()
    assert r"\frac{\partial L}{\partial W} &= \left(1 - a \odot a\right) x^{\top}" in der.to_latex()
    assert der.verify().passed


def test_a_matrix_power_is_refused():
    m = sd.Model("power")
    n = m.sizes("n")[0]
    A, y = m.param("A", n, n), m.input("y", n)
    a = m.let("a", A ** 2 @ y)
    m.loss(sd.squared_norm(a))
    with pytest.raises(ModelError, match="powers of scalars"):
        sd.derive(m).to_latex()


def test_a_scalar_default_and_a_size_of_one():
    m = sd.Model("sizes")
    assert m.param("w").shape == (1, 1) and m.input("x").shape == (1, 1)
    assert m.sequence("s").shape == (1, 1) and m.state("h").shape == (1, 1)
    assert m.param("v", 3).shape == (3, 1) and m.param("r", 1, 3).shape == (1, 3)
