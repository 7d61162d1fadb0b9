r"""Products print in the order people write them (issue 17), by one rule in the printer, not per built-in: the
error signal first (an adjoint, or the target the loss compares with), then the values in the order the model
defines them (gates before what they gate), then the derivatives of squashing functions as their rules write them
(``s \odot (1 - s)``, ``1 - y \odot y``). The engine's expressions stay as SymPy orders them; only printing moves.
Expected strings are written by hand from PyTorch's documented equations and the built-ins' own prose."""
import os
import subprocess
import sys
from functools import lru_cache

import pytest
import sympy as sp

import symderive as sd
from symderive import derivation
from symderive.matrix.product_order import ERROR, arrange_factors, print_order

n = sp.Symbol("n", integer=True, positive=True)


@lru_cache(maxsize=None)
def document(name: str, layout: str = "column", fmt: str = "markdown") -> str:
    return derivation(name).to_latex(fmt, layout=layout)


@pytest.mark.parametrize("layout", ["column", "row"])
@pytest.mark.parametrize("name, written, sympy_order", [
    # PyTorch: c_t = f_t * c_{t-1} + i_t * g_t, h_t = o_t * tanh(c_t)
    ("lstm", r"c_{t} = f_{t} \odot c_{t-1} + i_{t} \odot g_{t}", r"c_{t-1} \odot f_{t} + g_{t} \odot i_{t}"),
    ("lstm", r"h_{t} = o_{t} \odot \tanh\left(c_{t}\right)", r"h_{t} = \tanh\left(c_{t}\right) \odot o_{t}"),
    # PyTorch: h_t = (1 - z_t) * n_t + z_t * h_{t-1}, n_t = tanh(... + r_t * (W_hn h_{t-1} + b_hn))
    ("gru", r"h_{t} = \left(1 - z_{t}\right) \odot n_{t} + z_{t} \odot h_{t-1}", r"h_{t-1} \odot z_{t}"),
    ("gru", r"r_{t} \odot \left(", r"\right) \odot r_{t} + b_{in}"),
    # the dense page's own prose: the error signal (a - y) ⊙ a ⊙ (1 - a)
    ("dense", r"\left(a - y\right) \odot a \odot \left(1 - a\right)", r"\left(1 - a\right) \odot \left(a - y\right)"),
    # an adjoint before the derivative it is scaled by: \bar o ⊙ o ⊙ (1 - o), δ^h ⊙ o ⊙ (1 - tanh^2 c)
    ("lstm", r"\frac{\partial L}{\partial a_{o,t}} = \bar{o}_{t} \odot o_{t} \odot \left(1 - o_{t}\right)",
     r"\bar{o}_{t} \odot \left(1 - o_{t}\right) \odot o_{t}"),
    ("lstm", r"\delta^{h}_{t} \odot o_{t} \odot \left(1 - \tanh\left(c_{t}\right) \odot \tanh\left(c_{t}\right)\right)",
     r"\tanh\left(c_{t}\right)\right) \odot o_{t}"),
])
def test_built_in_products_read_as_written(name, written, sympy_order, layout):
    text = document(name, layout)
    if layout == "row":  # the row layout moves weights, not entrywise factors
        written, sympy_order = (s.replace(r"\left(W_{hn} h_{t-1} + b_{hn}\right)", "") for s in (written, sympy_order))
    assert written in text and sympy_order not in text


def gated_model() -> sd.Model:
    """A user's gated layer, named so that SymPy's order puts the gate last: ``h = z ⊙ c``, ``c ⊙ z`` canonically."""
    m = sd.Model("gated")
    d = m.sizes("d")[0]
    W, U, x, y = m.param("W", n, d), m.param("U", n, d), m.input("x", d), m.input("y", n)
    z = m.let("z", sd.sigmoid(W @ x))
    c = m.let("c", sd.tanh(U @ x))
    h = m.let("h", sd.hadamard(z, c))
    m.loss(sd.squared_norm(h - y) / 2)
    return m


def test_a_users_model_gets_the_same_rule():
    text = sd.derive(gated_model()).to_latex("markdown")
    assert r"h = z \odot c" in text and r"h = c \odot z" not in text  # the gate before what it gates
    assert r"\bar{z} = \frac{\partial L}{\partial z} = \bar{h} \odot c" in text  # the adjoint first
    # dL/dW: the residual (y is the target), what z multiplied, then sigma' = z (1 - z); dL/dU ends in tanh'
    assert r"\left(h - y\right) \odot c \odot z \odot \left(1 - z\right)" in text
    assert r"\left(h - y\right) \odot z \odot \left(1 - c \odot c\right)" in text


def test_a_softmax_vjp_reads_as_its_rule_is_written():
    """The softmax rule's own statement, s ⊙ (s̄ - (s̄ᵀ s) 1); before: (s̄ - (s̄ᵀ s) 1) ⊙ s."""
    m = sd.Model("soft")
    d = m.sizes("d")[0]
    W, x, y = m.param("W", n, d), m.input("x", d), m.input("y", n)
    s = m.let("s", sd.softmax(m.let("z", W @ x)))
    m.loss(sd.squared_norm(m.let("u", sd.tanh(s)) - y) / 2)
    text = sd.derive(m).to_latex("markdown")
    vjp = r"s \odot \left(\bar{s} - \left(\bar{s}^{\top} s\right) \mathbf{1}\right)"
    assert r"\bar{z} = \frac{\partial L}{\partial z} = " + vjp in text
    assert r"\left(u - y\right) \odot s \odot \left(1 - u \odot u\right)" in text  # the residual first


def test_a_weight_comes_before_what_it_weighs():
    """gamma ⊙ x̂ as layer norm is written (an argument alone before a computed value); SymPy's order: x̂ ⊙ gamma."""
    m = sd.Model("scale")
    d = m.sizes("d")[0]
    W, gamma, x, y = m.param("W", n, d), m.param("gamma", n), m.input("x", d), m.input("y", n)
    o = m.let("o", sd.hadamard(m.let("v", sd.tanh(W @ x)), gamma))
    m.loss(sd.squared_norm(o - y) / 2)
    text = sd.derive(m).to_latex("markdown")
    assert r"o = \gamma \odot v" in text and r"\bar{v} = \frac{\partial L}{\partial v} = \bar{o} \odot \gamma" in text
    assert r"\left(o - y\right) \odot \gamma \odot \left(1 - v \odot v\right)" in text


def test_the_rule_on_its_own():
    c_prev, f = sp.MatrixSymbol("c", n, 1), sp.MatrixSymbol("f", n, 1)
    adjoint, ones = sp.MatrixSymbol("d_c", n, 1), sp.OneMatrix(n, 1)
    order = {"f": 0, "c": 1}
    assert arrange_factors([c_prev, f], order) == [f, c_prev]  # defined first, printed first
    assert arrange_factors([ones - f, c_prev, adjoint, f], order) == [adjoint, c_prev, f, ones - f]
    assert arrange_factors([c_prev, f], {}) == [c_prev, f]  # no model order: SymPy's, deterministically


def test_the_models_order_ranks_the_target_as_the_error_signal():
    ranks = print_order(sd.derive(gated_model()).program)
    assert ranks["y"] == ERROR and ranks["z"] < ranks["c"] < ranks["h"] < ranks["W"]


def test_printing_is_byte_identical_whatever_the_hash_seed():
    """Another process, another string hash seed (SymPy's hashes follow it): the same bytes as this process."""
    code = "import symderive as sd; print(sd.derivation('gru').to_latex(), end='')"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    assert other == document("gru", "column", "latex") and r"\left(1 - z_{t}\right) \odot n_{t}" in other
