"""LSTM and GRU: proofs, finite differences, PyTorch's modules, the stacked layout, the GRU biases."""
import dataclasses

import numpy as np
import pytest

from symderive import derivation
from symderive.matrix.derive import AdjointDef, Backward
from symderive.matrix.evaluate import Truncation
from symderive.verify.matrix_checks import evaluator_loss, random_arguments
from symderive.verify.numeric import central_differences, compare, directional_check
from symderive.verify.symbolic import symbolic_proof
from tests.oracles import lstm as oracle_lstm

CELLS = ["lstm", "gru"]


@pytest.fixture(scope="module", params=CELLS)
def cell(request):
    d = derivation(request.param)
    return d, d.load_module(), random_arguments(d.program, d.sizes.numeric, seed=5)


def test_symbolic_proof(cell):
    d, _, _ = cell
    result, how = symbolic_proof(d.program, d.backward, d.sizes.small)
    assert result and all(result.values()), result


def test_central_differences(cell):
    d, module, arrays = cell
    grads = module.grad(**arrays)
    for name in arrays:
        rel, _, close = compare(grads[name], central_differences(lambda a: module.loss(**a), arrays, name))
        assert rel <= 1e-7 and close, name


@pytest.mark.parametrize("mode", ["blocks", "window"])
def test_truncation_against_detached_loss(cell, mode):
    d, module, arrays = cell
    truncation = Truncation(4, mode)
    grads = module.grad(**arrays, truncate=4, truncate_mode=mode)
    loss = evaluator_loss(d.program, truncation, arrays)
    for seed in range(2):
        rel, _, close = directional_check(loss, grads, arrays, seed)
        assert rel < 1e-7 and close


def test_torch_module_agrees(cell):
    pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    d, module, arrays = cell
    want = d.torch_reference(arrays)
    got = module.grad(**arrays)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-11, err_msg=name)


def test_from_torch_layout_matches_torch_forward(cell):
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    d, module, arrays = cell
    torch.manual_seed(0)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[d.name](8, 16, dtype=torch.float64)
    p = {k: v.detach().numpy() for k, v in layer.named_parameters()}
    args = module.from_torch_layout(p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"])
    inputs = {k: arrays[k] for k in arrays if k not in args}
    x, h0 = torch.tensor(arrays["x"]), torch.tensor(arrays["h0"])[None, :]
    with torch.no_grad():
        hs, _ = layer(x, (h0, torch.tensor(arrays["c0"])[None, :]) if d.name == "lstm" else h0)
    np.testing.assert_allclose(module.forward(**args, **inputs)["h"], hs.numpy(), rtol=1e-12, atol=1e-13)


def test_from_torch_layout_rejects_rows_that_do_not_split():
    module = derivation("lstm").load_module()
    with pytest.raises(ValueError, match="10 rows do not split into 4 gates"):
        module.from_torch_layout(np.zeros((10, 3)), np.zeros((8, 2)), np.zeros(8), np.zeros(8))


def test_gru_bias_subtlety_is_caught():
    # A derivation that gives b_hn the gradient of b_in (forgetting the reset gate) must fail.
    good = derivation("gru")
    grads = good.backward.adjoint_of
    wrong = AdjointDef("b_hn", grads["b_hn"].adjoint, grads["b_in"].terms, "param")
    bad_backward = Backward(good.program, good.backward.steps,
                            tuple(wrong if g.var == "b_hn" else g for g in good.backward.grads))
    bad = dataclasses.replace(good)
    bad.__dict__["backwards"] = {"gru": bad_backward}  # the cached_property, replaced by the wrong derivation
    result, _ = symbolic_proof(bad.program, bad_backward, bad.sizes.small)
    assert result["b_in"] and not result["b_hn"]
    module = bad.load_module()
    arrays = random_arguments(bad.program, bad.sizes.numeric)
    fd = central_differences(lambda a: module.loss(**a), arrays, "b_hn")
    assert not compare(module.grad(**arrays)["b_hn"], fd)[2]


@pytest.mark.parametrize("name,formula", [
    ("lstm", r"\frac{\partial c_{t}}{\partial c_{t-1}} = \operatorname{diag}\left(f_{t}\right)"),
    ("lstm", "&\\quad + \\delta^{c}_{t+1} \\odot f_{t+1}\n"),  # dL/dc_t gets delta^c_{t+1} ⊙ f_{t+1} (t < T)
    ("lstm", r"\delta^{c}_{T} = \delta^{h}_{T} \odot o_{T} \odot \left(1 - \tanh\left(c_{T}\right)"),
    # PyTorch's documented order: c_t = f_t * c_{t-1} + i_t * g_t, h_t = o_t * tanh(c_t)
    ("lstm", r"c_{t} = f_{t} \odot c_{t-1} + i_{t} \odot g_{t}"),
    ("lstm", r"h_{t} = o_{t} \odot \tanh\left(c_{t}\right)"),
    ("lstm", r"\frac{\partial L}{\partial W_{hi}} = \sum_{t=1}^{T} \bar{a}_{i,t} h_{t-1}^{\top}"),
    ("gru", r"\frac{\partial L}{\partial b_{hn}} = \sum_{t=1}^{T} \bar{a}_{n,t} \odot r_{t}"),
    ("gru", r"\frac{\partial L}{\partial b_{in}} = \sum_{t=1}^{T} \bar{a}_{n,t}"),
    ("gru", r"\operatorname{diag}\left(z_{t}\right)"),
])
def test_rendered_formulas(name, formula):
    assert formula in derivation(name).to_latex("markdown")


def test_verify_passes(cell):
    d, _, _ = cell
    report = d.verify()
    assert report.passed, report.table()


def test_lstm_matches_the_oracle_bptt():
    d = derivation("lstm")
    arrays = random_arguments(d.program, d.sizes.numeric, seed=9)
    want, got = oracle_lstm.grad(**arrays), d.load_module().grad(**arrays)
    assert set(want) == set(got)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_from_torch_layout_refuses_what_is_not_a_stack_of_real_gates(cell):
    module = derivation(cell).load_module()
    k = 4 if cell == "lstm" else 3
    good = {"weight_ih": np.ones((2 * k, 3)), "weight_hh": np.ones((2 * k, 2)), "bias_ih": np.ones(2 * k),
            "bias_hh": np.ones(2 * k)}
    with pytest.raises(TypeError, match=r"^weight_hh: expected real numbers .* complex128"):
        module.from_torch_layout(**{**good, "weight_hh": good["weight_hh"] * 1j})
    with pytest.raises(ValueError, match=rf"^bias_ih: shape \(\): 0 rows do not split into {k} gates"):
        module.from_torch_layout(**{**good, "bias_ih": 1.0})
    with pytest.raises(ValueError, match=rf"^weight_ih: shape \({2 * k + 1}, 3\): {2 * k + 1} rows do not split"):
        module.from_torch_layout(**{**good, "weight_ih": np.ones((2 * k + 1, 3))})
    assert module.from_torch_layout(**good)["W_h" + ("i" if cell == "lstm" else "r")].shape == (2, 2)
