"""The public model API (symderive.Model): models a user writes, and the mistakes a user makes, each refused
where it is made with a message that names the value (found by trying the API as a new user)."""
import numpy as np
import pytest

import symderive as sd
from symderive import ModelError, OptionError, ShapeMismatchError


def cell(name="cell"):
    m = sd.Model(name)
    n, d, q = m.sizes("n d q")
    W, U, V = m.param("W", n, n), m.param("U", n, d), m.param("V", q, n)
    x, y = m.sequence("x", d), m.sequence("y", q)
    return m, (W, U, V), (x, y), m.state("h", n)


def test_the_readme_rnn_rebuilds_the_builtin_program_exactly():
    m = sd.Model("rnn", latex_names={"d_h": r"\delta"})
    n, d, q = m.sizes("n d q")
    W_hh, W_xh, b_h = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b_h", n)
    W_hy, b_y = m.param("W_hy", q, n), m.param("b_y", q)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h = m.state("h", n)
    z = m.let("z", W_hh @ h.prev + W_xh @ x + b_h)
    m.let(h, sd.tanh(z))
    o = m.let("o", W_hy @ h + b_y)
    m.loss(sd.squared_norm(o - y) / 2)
    assert m.program() == sd.derivation("rnn").program


def test_a_two_layer_mlp_exports_gradients_that_match_finite_differences():
    m = sd.Model("mlp")
    n, h, d, q = m.sizes("n h d q")
    W1, b1, W2, b2 = m.param("W1", h, d), m.param("b1", h), m.param("W2", q, h), m.param("b2", q)
    x, y = m.input("x", d), m.input("y", q)
    a1 = m.let("a1", sd.relu(W1 @ x + b1))
    a2 = m.let("a2", sd.sigmoid(W2 @ a1 + b2))
    m.loss(sd.squared_norm(a2 - y) / 2)
    module = sd.derive(m).load_module()
    rng = np.random.default_rng(0)
    args = {"W1": rng.standard_normal((5, 3)), "b1": rng.standard_normal(5), "W2": rng.standard_normal((2, 5)),
            "b2": rng.standard_normal(2), "x": rng.standard_normal(3), "y": rng.standard_normal(2)}
    grad, eps = module.grad(**args)["W1"], 1e-6
    for i, j in np.ndindex(grad.shape):
        plus, minus = ({**args, "W1": args["W1"].copy()} for _ in range(2))
        plus["W1"][i, j] += eps
        minus["W1"][i, j] -= eps
        assert grad[i, j] == pytest.approx((module.loss(**plus) - module.loss(**minus)) / (2 * eps), abs=1e-6)


def test_sizes_must_fit_as_written():
    m, (W, U, V), (x, y), h = cell()
    with pytest.raises(ShapeMismatchError, match=r"in h: cannot multiply n x n by d x 1"):
        m.let(h, sd.tanh(W @ h.prev + W @ x))
    with pytest.raises(ShapeMismatchError, match=r"cannot add n x 1 and d x 1"):
        m.let(h, sd.tanh(W @ h.prev + x))
    with pytest.raises(ShapeMismatchError, match=r"the elementwise product is hadamard"):
        m.let("hh", h.prev * h.prev)


def test_the_loss_must_be_a_scalar_that_depends_on_the_model():
    m, (W, U, V), (x, y), h = cell()
    m.let(h, sd.tanh(W @ h.prev + U @ x))
    with pytest.raises(ModelError, match=r"the loss must be a scalar, not a q x 1 matrix"):
        m.loss(V @ h - y)
    m.loss(3)
    with pytest.raises(ModelError, match="the loss does not depend on the model"):
        m.program()
    with pytest.raises(ModelError, match="has no loss"):
        cell()[0].program()


def test_every_value_has_a_name_of_its_own():
    m, (W, U, V), (x, y), h = cell()
    for declare in (lambda: m.param("W", 2, 2), lambda: m.let("W", U @ x), lambda: m.sequence("x", 2)):
        with pytest.raises(ModelError, match="has a value named"):
            declare()
    m.let("z", U @ x)
    with pytest.raises(ModelError, match="has a value named z already"):
        m.let("z", sd.tanh(U @ x))
    m.let(h, sd.tanh(W @ h.prev + U @ x))
    with pytest.raises(ModelError, match="the state h is defined already"):
        m.let(h, sd.sigmoid(W @ h.prev))


def test_states_are_defined_and_read_by_the_next_step():
    m, (W, U, V), (x, y), h = cell()
    m.let("z", sd.tanh(W @ h.prev + U @ x))
    m.loss(sd.squared_norm(V @ h.prev - y))
    with pytest.raises(ModelError, match=r"the state h is declared but never defined"):
        m.program()
    m, (W, U, V), (x, y), h = cell()
    m.let(h, sd.tanh(U @ x))
    m.loss(sd.squared_norm(V @ h - y))
    with pytest.raises(ModelError, match=r"the state h is never read at the previous step"):
        m.program()


def test_a_state_is_used_only_after_its_definition():
    m, (W, U, V), (x, y), h = cell()
    o = m.let("o", V @ h)
    m.let(h, sd.tanh(W @ h.prev + U @ x))
    m.loss(sd.squared_norm(o - y))
    with pytest.raises(ModelError, match="h is used in o before it is defined"):
        m.program()


def test_an_unknown_function_names_the_known_ones():
    with pytest.raises(ModelError, match=r"unknown elementwise function 'gelu'; known: .*tanh"):
        sd.apply("gelu", cell()[3])


def test_truncation_is_for_recurrent_models_and_in_their_generic_document():
    m, (W, U, V), (x, y), h = cell()
    m.let(h, sd.tanh(W @ h.prev + U @ x))
    m.loss(sd.squared_norm(V @ h - y) / 2)
    assert "Truncated BPTT after $K = 3$ steps" in sd.derive(m).to_latex("markdown", truncate=3)
    with pytest.raises(OptionError, match="dense is not recurrent"):
        sd.derivation("dense").to_latex(truncate=3)


def test_a_title_with_an_underscore_is_escaped_in_the_tex_document():
    m, (W, U, V), (x, y), h = cell("sigmoid_rnn")
    m.let(h, sd.sigmoid(W @ h.prev + U @ x))
    m.loss(sd.squared_norm(V @ h - y) / 2)
    tex = sd.derive(m).to_latex("tex")
    assert r"\title{sigmoid\_rnn}" in tex
