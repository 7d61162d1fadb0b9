r"""Claims are evaluated by the engine's reference interpreter: each claim-level node type is one
registration of ``evaluate_node`` (symderive/judge/evaluate.py), sums and products go through the
registrations of symderive/ops, and a model's evaluation is unchanged by them."""
import numpy as np
import pytest
import sympy as sp

from symderive import ShapeMismatchError, parse_latex
from symderive.judge.context import UNREGISTERED, ClaimEvaluation
from symderive.judge.point import Point, size_cases
from symderive.judge.subject import read_where, subject_of_latex
from symderive.judge.values import NOTHING, Eye, Misshaped, Value, add, final, hadamard, matmul
from symderive.latex.parsed import concat, entry, norm, partial, transpose
from symderive.latex.parsed import hadamard as hadamard_node
from symderive.matrix.evaluate import NUMPY, Env, evaluate
from symderive.ops.registry import ACTIVATIONS, evaluate_node

DENSE = [r"z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2"]
RNN = [r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)", r"o_t = W_{hy} h_t + c", r"L = \sum_{t=1}^{T} \ell(o_t, y_t)"]

CLAIM_NODES = [transpose, hadamard_node, partial, norm, concat, entry, sp.Sum, sp.Product, sp.KroneckerDelta,
               sp.Pow, sp.Symbol, sp.Indexed, sp.Function]


def point_of(model, where=(), symbolic=False):
    subject = subject_of_latex(model)
    read_where(subject, list(where))
    return Point(subject, size_cases(subject)[0], 0, symbolic=symbolic)


def value(point, latex, **binding):
    ctx = ClaimEvaluation.of(point).bound({sp.Symbol(k, integer=True): v for k, v in binding.items()})
    return ctx(parse_latex(latex))


@pytest.mark.parametrize("node", CLAIM_NODES, ids=lambda c: c.__name__)
def test_every_claim_node_is_a_registration(node):
    assert evaluate_node.dispatch(node) is not UNREGISTERED


X = sp.Symbol("x")


@pytest.mark.parametrize("expr", [X, sp.Function("f")(X), sp.Sum(X, (sp.Symbol("k"), 1, 2)), X ** 2])
def test_model_evaluation_keeps_the_default_for_claim_types(expr):
    env = Env({}, {}, NUMPY)
    with pytest.raises(TypeError, match=f"cannot evaluate {type(expr).__name__}"):
        evaluate(expr, env)
    assert evaluate(sp.sqrt(2), env) == float(sp.sqrt(2))


def test_sums_and_products_use_the_engines_rules_with_matrix_products():
    p = point_of(DENSE)
    assert np.allclose(value(p, r"W x + b").data, p.env["z"])
    assert np.allclose(value(p, r"W^T z").data, p.env["W"].T @ p.env["z"])
    assert np.isclose(value(p, r"x^T x").data, (p.env["x"].T @ p.env["x"])[0, 0])  # 1 x 1 is a scalar
    assert np.allclose(value(p, r"a \odot (1 - a)").data, p.env["a"] * (1 - p.env["a"]))


def test_elementwise_functions_and_their_registered_derivatives():
    p = point_of(DENSE)
    s = ACTIVATIONS["sigmoid"].reference(p.env["z"])
    assert np.allclose(value(p, r"\sigma'(z)").data, s * (1 - s))
    assert np.allclose(value(p, r"\operatorname{diag}(\sigma(z))").data, np.diag(s.ravel()))


def test_symbolic_point_gives_exact_matrices():
    p = point_of(DENSE, symbolic=True)
    v = value(p, r"\frac{1}{2} (W x + b)")
    assert isinstance(v.data, sp.MatrixBase) and sp.expand(v.data - p.env["z"] / 2) == sp.zeros(*v.data.shape)


def test_empty_product_is_the_identity_and_out_of_range_is_nothing():
    p = point_of(RNN, where=[r"\delta_t = \frac{\partial L}{\partial h_t}"])
    assert isinstance(value(p, r"\prod_{j=t+1}^{t} W_{hh}", t=2), Eye)
    assert value(p, r"\delta_{T+1}") is NOTHING and value(p, r"h_{T+1}") is NOTHING
    assert np.allclose(value(p, r"h_0").data, p.env[("h", 0)])
    assert np.allclose(value(p, r"\delta_t", t=3).data, value(p, r"\frac{\partial L}{\partial h_3}").data)


def test_chain_rule_product_puts_the_latest_factor_on_the_left():
    p = point_of(RNN)
    jac = value(p, r"\frac{\partial h_3}{\partial h_1}").data
    product = value(p, r"\prod_{j=2}^{3} \frac{\partial h_j}{\partial h_{j-1}}").data
    assert np.allclose(jac, product)


def test_value_algebra():
    m = Value(np.arange(6.0).reshape(2, 3))
    assert add(NOTHING, m) is m and matmul(NOTHING, m) is NOTHING and hadamard(m, NOTHING) is NOTHING
    assert matmul(Eye(), m) is m and np.allclose(add(Eye(), Value(np.ones((2, 2)))).data, np.eye(2) + 1)
    assert np.allclose(final(Eye(), np.zeros((3, 3))), np.eye(3)) and np.allclose(final(NOTHING, np.ones(2)), 0)
    with pytest.raises(Misshaped, match="cannot multiply shapes 2 x 3 and 2 x 3"):
        m * m
    with pytest.raises(Misshaped, match="cannot add shapes 2 x 3 and 3 x 2"):
        m + m.T


def test_a_shape_mismatch_names_the_node_and_both_shapes():
    p = point_of(DENSE)
    with pytest.raises(ShapeMismatchError, match=r"cannot add shapes 2 x 1 and 3 x 1 in 'a \+ x'"):
        value(p, r"a + x")
