"""The vanilla RNN: every gradient verified three ways, truncation against an independent oracle."""
import dataclasses

import numpy as np
import pytest

from symderive.matrix.evaluate import Truncation
from symderive.ops.nodes import ones
from symderive.ops.registry import ACTIVATIONS
from symderive.verify.matrix_checks import random_arguments, reference_gradient
from symderive.verify.numeric import central_differences, compare
from symderive.verify.symbolic import symbolic_check
from tests.oracles import rnn as oracle_rnn


@pytest.fixture(scope="module")
def arrays(rnn):
    return random_arguments(rnn.program, rnn.sizes.numeric, seed=3)


def test_symbolic_proof_at_small_size(rnn):
    # n=2, d=2, q=1, T=3: brute-force sympy.diff of the explicit loss minus the derived formula is 0.
    result = symbolic_check(rnn.program, rnn.backward, rnn.sizes.small)
    assert result == {name: True for name in ("W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "x", "y")}


@pytest.mark.parametrize("name", ["W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "x", "y"])
def test_central_differences_at_realistic_size(rnn_module, arrays, name):
    # n=16, d=8, q=4, T=20, float64: norm-relative error <= 1e-7 and allclose(atol=1e-5, rtol=1e-3).
    fd = central_differences(lambda a: rnn_module.loss(**a), arrays, name)
    rel, _, close = compare(rnn_module.grad(**arrays)[name], fd)
    assert rel <= 1e-7 and close


def test_matches_the_oracle_bptt(rnn_module, arrays):
    want = oracle_rnn.grad(**arrays)
    got = rnn_module.grad(**arrays)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12)


def test_exported_gradient_equals_evaluated_derived_formulas(rnn, rnn_module, arrays):
    derived = reference_gradient(rnn.program, rnn.backward, arrays)
    got = rnn_module.grad(**arrays)
    for name in derived:
        np.testing.assert_allclose(got[name], derived[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["blocks", "window"])
@pytest.mark.parametrize("K", [1, 2, 3, 7])
def test_truncation_matches_definition(rnn_module, arrays, mode, K):
    want = oracle_rnn.grad_truncated(**arrays, K=K, mode=mode)
    got = rnn_module.grad(**arrays, truncate=K, truncate_mode=mode)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("mode", ["blocks", "window"])
def test_truncation_at_or_beyond_T_is_full_bptt(rnn_module, arrays, mode):
    full = rnn_module.grad(**arrays)
    for K in (20, 21, 1000):
        got = rnn_module.grad(**arrays, truncate=K, truncate_mode=mode)
        for name in full:
            np.testing.assert_array_equal(got[name], full[name])


@pytest.mark.parametrize("mode", ["blocks", "window"])
def test_truncation_symbolic_against_detached_loss(rnn, mode):
    # Brute force of the loss with the states detached as truncation prescribes, at T=3, K=2.
    result = symbolic_check(rnn.program, rnn.backward, rnn.sizes.small, Truncation(2, mode))
    assert set(result) == {"W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "x", "y"} and all(result.values()), result


def test_truncation_blocks_and_window_differ(rnn_module, arrays):
    blocks = rnn_module.grad(**arrays, truncate=3, truncate_mode="blocks")["W_hh"]
    window = rnn_module.grad(**arrays, truncate=3, truncate_mode="window")["W_hh"]
    assert not np.allclose(blocks, window)


def test_verify_report_passes(rnn):
    report = rnn.verify()
    assert report.passed, report.table()
    quantities = [r.quantity for r in report.rows]
    assert "dL/dW_hh" in quantities and "delta_i (BPTT product)" in quantities


def test_checker_catches_a_dropped_tanh_derivative(monkeypatch):
    # A deliberately wrong rule: tanh'(z) = 1 (the 1 - h^2 factor dropped) must fail both checks.
    from symderive import derivation

    wrong = dataclasses.replace(ACTIVATIONS["tanh"], derivative=lambda ans, z: ones(ans))
    monkeypatch.setitem(ACTIVATIONS, "tanh", wrong)
    bad = dataclasses.replace(derivation("rnn"))  # a fresh instance derives again, with the wrong rule
    symbolic = symbolic_check(bad.program, bad.backward, bad.sizes.small)
    assert not symbolic["W_hh"] and not symbolic["h0"]
    assert symbolic["W_hy"] and symbolic["b_y"]  # the output layer does not involve tanh'
    module = bad.load_module()
    arrays = random_arguments(bad.program, bad.sizes.numeric)
    fd = central_differences(lambda a: module.loss(**a), arrays, "W_hh")
    rel, _, close = compare(module.grad(**arrays)["W_hh"], fd)
    assert rel > 1e-3 and not close
    assert not bad.verify().passed


def test_random_point_proof_catches_a_dropped_tanh_derivative(monkeypatch):
    # The same wrong rule, decided by exact evaluation at random points (the path large models take).
    from symderive import derivation
    from symderive.verify import symbolic

    monkeypatch.setattr(symbolic, "EXACT_ATOMS", 0)
    good = derivation("rnn")
    result, how = symbolic.symbolic_proof(good.program, good.backward, good.sizes.small)
    assert how.startswith("exact at") and all(result.values())
    wrong = dataclasses.replace(ACTIVATIONS["tanh"], derivative=lambda ans, z: ones(ans))
    monkeypatch.setitem(ACTIVATIONS, "tanh", wrong)
    bad = dataclasses.replace(good)
    result, _ = symbolic.symbolic_proof(bad.program, bad.backward, bad.sizes.small)
    assert not result["W_hh"] and not result["h0"] and result["W_hy"]


def test_torch_autograd_agrees(rnn, rnn_module, arrays):
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    assert torch is not None
    want = rnn.torch_reference(arrays)
    got = rnn_module.grad(**arrays)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-11, err_msg=name)


def test_torch_forward_agrees(rnn_module, arrays):
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    cell = torch.nn.RNN(8, 16, nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih_l0.copy_(torch.tensor(arrays["W_xh"]))
        cell.weight_hh_l0.copy_(torch.tensor(arrays["W_hh"]))
        cell.bias_ih_l0.copy_(torch.tensor(arrays["b_h"]))
        cell.bias_hh_l0.zero_()
        hs, _ = cell(torch.tensor(arrays["x"]), torch.tensor(arrays["h0"])[None, :])
    np.testing.assert_allclose(rnn_module.forward(**arrays)["h"], hs.numpy(), rtol=1e-12, atol=1e-13)
