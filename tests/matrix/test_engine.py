"""The rule table: each op's vector-Jacobian rule checked symbolically and numerically, on fixed
models (a per-activation table) and on randomly composed programs (Hypothesis)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symderive import ModelError
from symderive.matrix.derive import derive, linear_map
from symderive.matrix.evaluate import FULL, Truncation
from symderive.matrix.module_code import module_source
from symderive.model.program import Assign, Program
from symderive.ops.nodes import Concat, Elementwise, SquaredNorm, T, TimeVar, hadamard, ones, t
from symderive.verify.matrix_checks import random_arguments, reference_gradient
from symderive.verify.numeric import central_differences, compare
from symderive.verify.symbolic import symbolic_check

n, d = sp.symbols("n d", integer=True, positive=True)
W1, W2, b = sp.MatrixSymbol("W1", n, d), sp.MatrixSymbol("W2", n, n), sp.MatrixSymbol("b", n, 1)
x, y = sp.MatrixSymbol("x", d, 1), sp.MatrixSymbol("y", n, 1)


def layer_program(body) -> Program:
    """z = W1 x + b, a = body(z), L = 1/2 ||a - y||^2."""
    z, a = sp.MatrixSymbol("z", n, 1), sp.MatrixSymbol("a", n, 1)
    return Program("layer", (Assign(z, W1 * x + b), Assign(a, body(z))), (W1, W2, b), (x, y),
                   sp.Rational(1, 2) * SquaredNorm(a - y))


def load(program):
    import types

    module = types.ModuleType("generated")
    exec(compile(module_source(program, derive(program), "test"), "generated", "exec"), module.__dict__)
    return module


def check(program, sizes, symbolic=True, seed=0):
    bw = derive(program)
    if symbolic:
        result = symbolic_check(program, bw, sizes)
        assert result and all(result.values()), result
    module = load(program)
    arrays = random_arguments(program, sizes, seed=seed)
    grads = module.grad(**arrays)
    derived = reference_gradient(program, bw, arrays)
    for name in arrays:
        fd = central_differences(lambda a: module.loss(**a), arrays, name)
        rel, _, close = compare(grads[name], fd)
        assert close and rel < 1e-6, (name, rel)
        np.testing.assert_allclose(grads[name], derived[name], rtol=1e-10, atol=1e-12)


# Per-activation table: how the activation is used (inputs kept in its domain).
ACTIVATION_CASES = {
    "tanh": lambda z: Elementwise("tanh", z),
    "sigmoid": lambda z: Elementwise("sigmoid", z),
    "relu": lambda z: Elementwise("relu", z),  # random inputs are never exactly at the kink
    "softplus": lambda z: Elementwise("softplus", z),
    "exp": lambda z: Elementwise("exp", z),
    "log": lambda z: Elementwise("log", Elementwise("softplus", z)),  # log needs positive input
}


@pytest.mark.parametrize("name", sorted(ACTIVATION_CASES))
def test_activation_rules(name):
    check(layer_program(ACTIVATION_CASES[name]), {n: 2, d: 2})


def test_transpose_and_hadamard_rules():
    # a = (W2^T tanh(z)) ⊙ z ⊙ z: transpose, Hadamard product, Hadamard power.
    check(layer_program(lambda z: hadamard(W2.T * Elementwise("tanh", z), z, z)), {n: 2, d: 3})


def test_linear_map_of_a_vjp():
    g = TimeVar("g", t, n)
    v = ones(g) - hadamard(TimeVar("h", t, n), TimeVar("h", t, n))
    assert linear_map(W2.T * hadamard(g, v), g) == W2.T * sp.DiagMatrix(v)
    with pytest.raises(ModelError, match="not linear"):
        linear_map(hadamard(g, g), g)


def test_undefined_variable_is_a_model_error():
    with pytest.raises(ModelError, match="used in a before it is defined"):
        Program("bad", (Assign(sp.MatrixSymbol("a", n, 1), W2 * sp.MatrixSymbol("q", n, 1)),), (W2,), (), sp.S(0))


def test_shape_mismatch_is_reported():
    with pytest.raises(ModelError, match=r"shape \(n, 1\) but its expression has shape \(d, 1\)"):
        Program("bad", (Assign(sp.MatrixSymbol("a", n, 1), x),), (), (x,), sp.S(0))


def test_reserved_adjoint_names():
    with pytest.raises(ModelError, match="reserved for adjoints"):
        Program("bad", (Assign(sp.MatrixSymbol("d_a", d, 1), x),), (), (x,), sp.S(0))


# Randomly composed programs: a chain of layers built from the ops of the rule table.
OPS = ["tanh", "sigmoid", "softplus", "linear", "hadamard", "transpose"]


def build(ops):
    value, assignments = W1 * x + b, []
    for i, op in enumerate(ops):
        target = sp.MatrixSymbol(f"v{i}", n, 1)
        if op == "linear":
            expr = W2 * value + b
        elif op == "hadamard":
            expr = hadamard(value, Elementwise("sigmoid", value))
        elif op == "transpose":
            expr = W2.T * value
        else:
            expr = Elementwise(op, value)
        assignments.append(Assign(target, expr))
        value = target
    return Program("random", tuple(assignments), (W1, W2, b), (x, y), sp.Rational(1, 2) * SquaredNorm(value - y))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(OPS), min_size=1, max_size=4), st.integers(0, 2**16))
def test_random_programs(ops, seed):
    check(build(ops), {n: 3, d: 2}, symbolic=False, seed=seed)


@settings(max_examples=6, deadline=None)
@given(st.lists(st.sampled_from(OPS), min_size=1, max_size=2))
def test_random_programs_symbolic(ops):
    program = build(ops)
    result = symbolic_check(program, derive(program), {n: 2, d: 2})
    assert result and all(result.values()), result


def test_concatenation_rule():
    # z = W [x; u] + b with x (d) and u (e): the gate form W_f [h_{t-1}, x_t] of many notes.
    e = sp.Symbol("e", integer=True, positive=True)
    Wc, u = sp.MatrixSymbol("Wc", n, d + e), sp.MatrixSymbol("u", e, 1)
    z, a = sp.MatrixSymbol("z", n, 1), sp.MatrixSymbol("a", n, 1)
    program = Program("concat", (Assign(z, Wc * Concat(x, u) + b), Assign(a, Elementwise("tanh", z))),
                      (Wc, b), (x, u, y), sp.Rational(1, 2) * SquaredNorm(a - y))
    check(program, {n: 2, d: 2, e: 1})
    check(program, {n: 5, d: 3, e: 4}, symbolic=False)


def test_concatenated_recurrent_cell():
    # h_t = tanh(W [h_{t-1}; x_t] + b): BPTT through a concatenation, full and truncated.
    W, h = sp.MatrixSymbol("W", n, n + d), TimeVar("h", t, n)
    xt, yt = TimeVar("x", t, d), TimeVar("y", t, n)
    program = Program("cat_rnn", (Assign(h, Elementwise("tanh", W * Concat(h.at(t - 1), xt) + b)),), (W, b),
                      (xt, yt), sp.Rational(1, 2) * SquaredNorm(h - yt), states={"h": sp.MatrixSymbol("h0", n, 1)})
    bw = derive(program)
    for truncation in (FULL, Truncation(2, "blocks"), Truncation(2, "window")):
        result = symbolic_check(program, bw, {n: 2, d: 1, T: 3}, truncation)
        assert result and all(result.values()), result
    module = load(program)
    arrays = random_arguments(program, {n: 4, d: 3, T: 6})
    for name in arrays:
        fd = central_differences(lambda a_: module.loss(**a_), arrays, name)
        assert compare(module.grad(**arrays)[name], fd)[2], name


def test_compound_size_is_checked_in_the_export():
    e = sp.Symbol("e", integer=True, positive=True)
    Wc, u = sp.MatrixSymbol("Wc", n, d + e), sp.MatrixSymbol("u", e, 1)
    a = sp.MatrixSymbol("a", n, 1)
    program = Program("concat", (Assign(a, Elementwise("tanh", Wc * Concat(x, u) + b)),), (Wc, b), (x, u, y),
                      sp.Rational(1, 2) * SquaredNorm(a - y))
    module = load(program)
    arrays = {"Wc": np.zeros((2, 5)), "b": np.zeros(2), "x": np.zeros(3), "u": np.zeros(1), "y": np.zeros(2)}
    with pytest.raises(ValueError, match=r"Wc: size d \+ e is 5, but d = 3 \+ e = 1 = 4"):
        module.grad(**arrays)


def test_concatenation_latex():
    from symderive.matrix.latex_printer import to_latex

    h = TimeVar("h", t, n)
    assert to_latex(sp.MatrixSymbol("W_f", n, n + d) * Concat(h.at(t - 1), TimeVar("x", t, d))) == \
        r"W_{f} \begin{bmatrix} h_{t-1} \\ x_{t} \end{bmatrix}"
