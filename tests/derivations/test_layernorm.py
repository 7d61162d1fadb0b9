"""The layernorm built-in: the export's contract (issue 17), its numbers against a layer norm written here in
NumPy and against central differences, torch.nn.functional.layer_norm where torch is installed, and the compact
backward in the document."""
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

import symderive as sd
from symderive.derivations import layernorm
from symderive.verify.numeric import central_differences

GOLDEN = Path(__file__).parent.parent / "golden"
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")


@pytest.fixture(scope="module")
def module():
    return sd.derivation("layernorm").load_module()


def arrays(N=4, D=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"X": 3 * rng.standard_normal((N, D)) + 1, "gamma": rng.standard_normal(D),
            "beta": rng.standard_normal(D), "G": rng.standard_normal((N, D))}


def layer_norm_by_hand(X, gamma, beta, eps=1e-5):
    mu = X.mean(axis=1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(((X - mu) ** 2).mean(axis=1, keepdims=True) + eps) + beta


def test_the_contract(module):
    assert module.SHAPES == {"X": ("N", "D"), "gamma": ("D",), "beta": ("D",), "G": ("N", "D")}
    for name in ("forward", "loss", "grad"):
        parameters = inspect.signature(getattr(module, name)).parameters
        assert list(parameters) == ["X", "gamma", "beta", "G", "eps"] and parameters["eps"].default == 1e-5
    a = arrays()
    grads = module.grad(**a)
    assert all(grads[k].shape == a[k].shape and grads[k].dtype == np.float64 for k in a)


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_forward_is_a_layer_norm_and_gradients_are_its_derivatives(module, eps):
    a = arrays(seed=1)
    assert np.allclose(module.forward(**a, eps=eps)["Y"], layer_norm_by_hand(**{k: a[k] for k in a if k != "G"},
                                                                            eps=eps), rtol=1e-12, atol=1e-12)
    grads = module.grad(**a, eps=eps)
    for name in a:
        want = central_differences(lambda x: module.loss(**x, eps=eps), a, name)
        assert np.allclose(grads[name], want, rtol=1e-6, atol=1e-7), name


def test_the_gradient_of_x_is_orthogonal_to_shifts(module):
    # Adding c to a row does not change the layer norm, so each row of dL/dX sums to 0 (an independent property).
    grads = module.grad(**arrays(N=8, D=32, seed=2))
    assert np.allclose(grads["X"].sum(axis=1), 0, atol=1e-12)


def test_bad_shapes_are_named(module):
    with pytest.raises(ValueError, match="gamma"):
        module.grad(**{**arrays(), "gamma": np.ones(5)})


@needs_torch
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_against_torch_layer_norm(module, eps):
    a = arrays(N=16, D=32, seed=3)
    want = layernorm.LayerNormReference()(a, eps=eps)
    grads = module.grad(**a, eps=eps)
    for name in a:
        assert np.allclose(grads[name], want[name], rtol=1e-10, atol=1e-12), name


def test_verify_passes_three_ways():
    report = sd.derivation("layernorm").verify()
    assert report.passed, report.table()
    assert all(row.symbolic for row in report.rows if row.quantity.startswith("dL/d") and "eps" not in row.quantity)


def test_the_document_has_the_compact_backward():
    text = sd.derivation("layernorm").to_latex("markdown")
    assert (r"\bar{\hat X} - \hat X \odot \left(\operatorname{mean}\left(\bar{\hat X} \odot \hat X\right) "
            r"\mathbf{1}^{\top}\right) - \operatorname{mean}\left(\bar{\hat X}\right) \mathbf{1}^{\top}") in text
    assert r"\frac{1}{\sqrt{\operatorname{var}\left(X\right) + \epsilon}}" in text


@pytest.mark.parametrize("fmt,ext", [("markdown", "md"), ("tex", "tex")])
def test_golden(fmt, ext):
    # Reviewed snapshot; refresh after an intended change with `make golden`.
    assert sd.derivation("layernorm").to_latex(fmt) == (GOLDEN / f"layernorm.{ext}").read_text(encoding="utf-8")
