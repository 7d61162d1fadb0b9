"""Randomly composed programs of scalars (1 x 1 values), and of scalars mixed with vectors: each checked
against central differences of the exported loss, the reference interpreter, and (small ones) the
brute-force ``sympy.diff`` proof. None of the expected values comes from the derived formulas."""
import types

import numpy as np
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from symderive.matrix.derive import derive
from symderive.matrix.module_code import module_source
from symderive.model import times
from symderive.model.program import Assign, Program
from symderive.ops.nodes import Elementwise, SquaredNorm, T, TimeVar, hadamard, t
from symderive.verify.matrix_checks import random_arguments, reference_gradient
from symderive.verify.numeric import central_differences, compare
from symderive.verify.symbolic import symbolic_check

n = sp.Symbol("n", integer=True, positive=True)
w, b, x, y = (sp.MatrixSymbol(s, 1, 1) for s in "wbxy")
v = sp.MatrixSymbol("v", n, 1)

STEPS = {
    "tanh": lambda e: Elementwise("tanh", e),
    "sigmoid": lambda e: Elementwise("sigmoid", e),
    "softplus": lambda e: Elementwise("softplus", e),
    "affine": lambda e: w * e + b,
    "product": lambda e: hadamard(e, Elementwise("sigmoid", e)),
    "square": lambda e: e ** 2,
    "through a vector": lambda e: v.T * Elementwise("tanh", times(e, v)),  # c -> tanh(c v) -> v^T tanh(c v)
}
LOSSES = {
    "square": lambda e: (e - y) ** 2 / 2,
    "itself": lambda e: e,
    "log": lambda e: Elementwise("log", Elementwise("softplus", e)),
    "product": lambda e: e * y,
    "squared norm": lambda e: SquaredNorm(e - y) / 2,
}


def program(steps, loss) -> Program:
    value, assignments = w * x + b, []
    for i, step in enumerate(steps):
        target = sp.MatrixSymbol(f"a{i}", 1, 1)
        assignments.append(Assign(target, STEPS[step](value)))
        value = target
    return Program("scalars", tuple(assignments), (w, b, v), (x, y), LOSSES[loss](value))


def module_of(p: Program):
    module = types.ModuleType("generated")
    exec(compile(module_source(p, derive(p), "test"), "generated", "exec"), module.__dict__)
    return module


def check(p: Program, sizes: dict, seed: int, symbolic: bool) -> None:
    bw = derive(p)
    if symbolic:
        result = symbolic_check(p, bw, sizes)
        assert result and all(result.values()), result
    module = module_of(p)
    arrays = random_arguments(p, sizes, seed=seed)
    grads, derived = module.grad(**arrays), reference_gradient(p, bw, arrays)
    for name in arrays:
        assert np.shape(grads[name]) == np.shape(arrays[name]), name
        rel, largest, close = compare(grads[name], central_differences(lambda a: module.loss(**a), arrays, name))
        assert close and (rel < 1e-6 or largest < 1e-9), (name, rel, largest)  # a tiny gradient: absolute error
        np.testing.assert_allclose(grads[name], derived[name], rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=4), st.sampled_from(sorted(LOSSES)),
       st.integers(0, 2**16))
def test_random_scalar_programs(steps, loss, seed):
    check(program(steps, loss), {n: 3}, seed, symbolic=False)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=2), st.sampled_from(sorted(LOSSES)))
def test_random_scalar_programs_symbolic(steps, loss):
    check(program(steps, loss), {n: 2}, 0, symbolic=True)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["tanh", "sigmoid", "softplus"]), st.sampled_from(sorted(LOSSES)), st.booleans())
@example("softplus", "itself", False)  # softplus' reads x_{t+1} in the backward step: data have no row T+1
def test_random_scalar_recurrences(activation, loss, mean):
    # h_t = f(w h_{t-1} + u x_t), with a mean or a sum over steps; full and symbolic at T = 3.
    u = sp.MatrixSymbol("u", 1, 1)
    h, xt, yt = TimeVar("h", t, 1), TimeVar("x", t, 1), TimeVar("y", t, 1)
    step_loss = LOSSES[loss](h).subs(y, yt)
    p = Program("scalar_rnn", (Assign(h, Elementwise(activation, w * h.at(t - 1) + u * xt)),), (w, u), (xt, yt),
                step_loss / T if mean else step_loss, states={"h": sp.MatrixSymbol("h0", 1, 1)})
    check(p, {T: 3}, 0, symbolic=True)
    check(p, {T: 7}, 1, symbolic=False)
