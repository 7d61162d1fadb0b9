"""The lean step loops that ``grad`` runs (issue 18): gates stacked in the order of their activations, the input
products of all steps as one product written into the gate rows, the gate adjoints that share a factor as one
broadcast product per step. Checked against an oracle written without the engine (``tests/oracles/lstm``), example
by example for a batch, with truncation, and for a user's gated cell whose gates are in an odd order, one without a
bias and one with a second input, against central differences of its loss (``loss`` runs the full loop)."""
import numpy as np
import pytest

import symderive as sd
from symderive import derivation
from symderive.verify.matrix_checks import random_arguments
from symderive.verify.numeric import central_differences, compare
from tests.export.cases import assert_batch_is_its_examples
from tests.oracles import lstm as oracle_lstm


@pytest.fixture(scope="module")
def lstm():
    d = derivation("lstm")
    return d, d.load_module()


@pytest.mark.parametrize("H, d_, T", [(5, 3, 6), (1, 2, 1), (7, 1, 9)])
def test_lstm_lean_grad_matches_the_oracle(lstm, H, d_, T):
    d, module = lstm
    sizes = {"H": H, "d": d_, "q": 2, "T": T}
    arrays = random_arguments(d.program, {s: sizes[str(s)] for s in (*d.program.dims(), *d.sizes.small)}, seed=H + T)
    got, want = module.grad(**arrays), oracle_lstm.grad(**arrays)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def test_lstm_lean_grad_of_a_batch_is_the_oracle_per_example(lstm):
    d, module = lstm
    rng = np.random.default_rng(3)
    one = random_arguments(d.program, {s: {"H": 4, "d": 3, "q": 2, "T": 5}[str(s)]
                                       for s in (*d.program.dims(), *d.sizes.small)}, seed=3)
    arrays = {k: rng.standard_normal((3, *v.shape)) * 0.5 if k in module.BATCH else v for k, v in one.items()}
    assert_batch_is_its_examples(module, arrays, oracle_lstm.grad, 3)


def test_lstm_lean_grad_with_block_truncation_adds_up_the_blocks(lstm):
    """Blocks of K steps with no gradient across a boundary: the gradient of a parameter is the sum of the
    gradients of the blocks run one at a time from the states the full forward pass reaches (the oracle)."""
    d, module = lstm
    arrays = random_arguments(d.program, {s: {"H": 4, "d": 3, "q": 2, "T": 7}[str(s)]
                                          for s in (*d.program.dims(), *d.sizes.small)}, seed=11)
    got = module.grad(**arrays, truncate=3, truncate_mode="blocks")
    states = module.forward(**arrays)
    want = {}
    for start in range(0, 7, 3):
        part = dict(arrays, x=arrays["x"][start:start + 3], y=arrays["y"][start:start + 3])
        if start:
            part.update(h0=states["h"][start - 1], c0=states["c"][start - 1])
        for name, value in oracle_lstm.grad(**part).items():
            if name not in ("x", "y", "h0", "c0"):
                want[name] = want.get(name, 0.0) + value
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def odd_gates(second_input: bool = True) -> sd.Model:
    """A gated cell with a tanh gate between the logistic ones and a gate ``f`` without a bias, which also reads
    a second sequence ``z`` (an input product that is not the others' one) when ``second_input``."""
    m = sd.Model("odd_gates")
    n, d, e, q = m.sizes("n d e q")
    W = {k: (m.param(f"W_h{k}", n, n), m.param(f"W_x{k}", n, d)) for k in "igf"}
    b_i, b_g, W_hy = m.param("b_i", n), m.param("b_g", n), m.param("W_hy", q, n)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h, c = m.state("h", n), m.state("c", n)
    i = m.let("i", sd.sigmoid(m.let("a_i", W["i"][0] @ h.prev + W["i"][1] @ x + b_i)))
    g = m.let("g", sd.tanh(m.let("a_g", W["g"][0] @ h.prev + W["g"][1] @ x + b_g)))
    a_f = W["f"][0] @ h.prev + W["f"][1] @ x
    if second_input:
        a_f += m.param("U_f", n, e) @ m.sequence("z", e)
    f = m.let("f", sd.sigmoid(m.let("a_f", a_f)))
    m.let(c, sd.hadamard(f, c.prev) + sd.hadamard(i, g))
    m.let(h, sd.hadamard(sd.tanh(c), f))
    m.loss(sd.squared_norm(W_hy @ h - y) / 2)
    return m


@pytest.fixture(scope="module", params=[True, False], ids=["second_input", "no_bias"])
def odd(request):
    return sd.derive(odd_gates(request.param)).load_module()


def odd_arrays(module, B=None, seed=0):
    rng = np.random.default_rng(seed)
    sizes = {"n": 4, "d": 3, "e": 2, "q": 2, "T": 5}
    return {name: rng.standard_normal(((B,) if B and name in module.BATCH else ())
                                      + tuple(sizes[a] for a in axes)) * 0.5
            for name, axes in module.SHAPES.items()}


@pytest.mark.parametrize("second_input, added", [
    (True, "_gates0[1:T + 1, ..., n:2*n] += (_mm(z[0:T], U_f.T)) * 0.5"),  # a block of its own
    (False, "_gates0[1:T + 1] += np.concatenate([b_i, np.zeros(n), b_g]) * _scale_stk0"),  # the biases as one row
])
def test_odd_gates_lean_loop_takes_the_stacked_paths(second_input, added):
    """The cell is one that the rules apply to: one input product into the gate rows, the rest added, the logistic
    gates side by side (one block finished by ``+ 1, * 0.5``, f before g)."""
    source = sd.derive(odd_gates(second_input)).module_source()
    assert "_gates0[1:T + 1] = _mm(x[0:T], _W_gates0_in)" in source
    assert added in source
    assert source.count("_block += 1.0") == 1 and "_W_gates0_in = np.concatenate([W_xi.T, W_xf.T, W_xg.T]" in source


def test_odd_gates_lean_grad_matches_central_differences(odd):
    arrays = odd_arrays(odd)
    got = odd.grad(**arrays)
    for name in arrays:
        rel, _, close = compare(got[name], central_differences(lambda a: odd.loss(**a), arrays, name))
        assert rel <= 1e-7 and close, name


def test_odd_gates_batch_is_the_sum_of_its_examples(odd):
    arrays = odd_arrays(odd, B=3, seed=1)
    got = odd.grad(**arrays)
    each = [odd.grad(**{k: v[b] if k in odd.BATCH else v for k, v in arrays.items()}) for b in range(3)]
    for name, value in got.items():
        want = np.stack([e[name] for e in each]) if name in odd.BATCH else sum(e[name] for e in each)
        np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=name)
