"""The attention built-in: the export's contract (issue 17), its numbers against attention written here in NumPy
and against central differences, PyTorch's scaled_dot_product_attention where torch is installed, the compact
forms in the document, and the zero gradient of a bias on every key."""
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

import symderive as sd
from symderive.derivations import attention
from symderive.verify.numeric import central_differences

GOLDEN = Path(__file__).parent.parent / "golden"
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")


@pytest.fixture(scope="module")
def module():
    return sd.derivation("attention").load_module()


def arrays(N=5, M=7, d_k=4, d_v=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"Q": rng.standard_normal((N, d_k)), "K": rng.standard_normal((M, d_k)),
            "V": rng.standard_normal((M, d_v)), "G": rng.standard_normal((N, d_v))}


def attention_by_hand(Q, K, V, causal=False, scale=None):
    """softmax(scale Q K^T) V, row by row, with the entries j > i masked out when causal."""
    scores = (1 / np.sqrt(Q.shape[1]) if scale is None else scale) * Q @ K.T
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape, dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ V


def test_the_contract(module):
    assert module.SHAPES == {"Q": ("N", "d_k"), "K": ("M", "d_k"), "V": ("M", "d_v"), "G": ("N", "d_v")}
    for name in ("forward", "loss", "grad"):
        parameters = inspect.signature(getattr(module, name)).parameters
        assert list(parameters) == ["Q", "K", "V", "G", "causal", "scale"]
        assert (parameters["causal"].default, parameters["scale"].default) == (False, None)
    a = arrays()
    grads = module.grad(**a)
    assert set(grads) == {"Q", "K", "V", "G"}
    assert all(grads[k].shape == a[k].shape and grads[k].dtype == np.float64 for k in a)


@pytest.mark.parametrize("causal,scale", [(False, None), (True, None), (False, 0.7), (True, 2.0)])
def test_forward_and_loss_are_attention(module, causal, scale):
    a = arrays(N=6, M=6) if causal else arrays()
    out = module.forward(**a, causal=causal, scale=scale)["O"]
    assert np.allclose(out, attention_by_hand(a["Q"], a["K"], a["V"], causal, scale), rtol=1e-12, atol=1e-12)
    assert np.isclose(module.loss(**a, causal=causal, scale=scale), np.sum(a["G"] * out), rtol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_against_central_differences(module, causal):
    a = arrays(N=4, M=6, d_k=3, d_v=2, seed=1)
    grads = module.grad(**a, causal=causal, scale=0.5)
    for name in a:
        want = central_differences(lambda x: module.loss(**x, causal=causal, scale=0.5), a, name)
        assert np.allclose(grads[name], want, rtol=1e-6, atol=1e-8), name


def test_any_size_and_bad_shapes_named(module):
    one = arrays(N=1, M=1, d_k=1, d_v=1)
    assert np.allclose(module.grad(**one)["V"], one["G"])  # one key: P = 1, so dL/dV = G
    bad = {**arrays(), "K": np.zeros((7, 5))}
    with pytest.raises(ValueError, match="K"):
        module.grad(**bad)


@needs_torch
@pytest.mark.parametrize("causal,scale,sizes", [(False, None, (5, 7)), (True, None, (6, 6)), (True, 0.3, (4, 6)),
                                                (True, None, (6, 4))])
def test_against_torch_scaled_dot_product_attention(module, causal, scale, sizes):
    a = arrays(N=sizes[0], M=sizes[1], seed=2)
    want = attention.SdpaReference()(a, causal=causal, scale=scale)
    grads = module.grad(**a, causal=causal, scale=scale)
    for name in a:
        assert np.allclose(grads[name], want[name], rtol=1e-10, atol=1e-12), name


def test_verify_passes_three_ways():
    report = sd.derivation("attention").verify()
    assert report.passed, report.table()
    assert all(row.symbolic for row in report.rows if row.quantity.startswith("dL/d") and "causal" not in row.quantity)


def test_the_document_has_the_compact_forms():
    text = sd.derivation("attention").to_latex("markdown")
    assert r"\frac{\partial L}{\partial V} = P^{\top} \bar{O}" in text
    assert r"\frac{\partial L}{\partial Q} = \frac{1}{\sqrt{d_{k}}} \bar{S} K" in text
    assert r"\frac{\partial L}{\partial K} = \frac{1}{\sqrt{d_{k}}} \bar{S}^{\top} Q" in text
    assert r"\bar{P} = \frac{\partial L}{\partial P} = \bar{O} V^{\top}" in text
    assert r"\operatorname{rowsum}\left(\bar{P} \odot P\right) \mathbf{1}^{\top}" in text
    assert r" = \operatorname{rowsum}\left(\bar{O} \odot O\right)" in text  # FlashAttention's row sums
    assert "$$\n = 0\n$$" in text  # the key bias


def test_a_bias_on_every_key_gets_no_gradient():
    # Shift invariance, numerically on the engine's export of the model with the bias (independent of the rule).
    module = sd.derive(attention.model(key_bias=True)).load_module()
    a = {**arrays(seed=3), "b": np.random.default_rng(4).standard_normal(4)}
    grads = module.grad(**a)
    assert np.max(np.abs(grads["b"])) < 1e-12 * np.max(np.abs(grads["K"]))
    assert np.max(np.abs(central_differences(lambda x: module.loss(**x), a, "b"))) < 1e-8


@pytest.mark.parametrize("fmt,ext", [("markdown", "md"), ("tex", "tex")])
def test_golden(fmt, ext):
    # Reviewed snapshot; refresh after an intended change with `make golden`.
    assert sd.derivation("attention").to_latex(fmt) == (GOLDEN / f"attention.{ext}").read_text(encoding="utf-8")
