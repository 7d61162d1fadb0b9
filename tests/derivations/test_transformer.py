r"""The ``mha`` and ``transformer`` built-ins: their exports against PyTorch's ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer`` (through ``from_torch_layout``), against a hand-written NumPy block
(``benchmarks/handwritten_transformer.py``, an oracle written without the engine) and against central differences;
the keywords (``heads`` required and checked, ``causal``, ``eps``); the residual paths as the engine derives them.
"""
import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from symderive import derivation
from symderive.verify.numeric import central_differences, compare

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import handwritten_transformer  # noqa: E402  (the benchmarks folder is not a package)


@functools.cache
def module(name):
    return derivation(name).load_module()


def encoder_layer(torch, D, heads, F, eps=1e-5, seed=0):
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(d_model=D, nhead=heads, dim_feedforward=F, dropout=0.0,
                                             activation="relu", batch_first=True, norm_first=True,
                                             layer_norm_eps=eps, dtype=torch.float64)
    with torch.no_grad():  # gamma = 1 and beta = 0 at initialisation would hide a swapped gamma and beta
        for p in (layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias):
            p.add_(0.3 * torch.randn_like(p))
    return layer


def data(N, D, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.standard_normal((N, D))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [1, 3])
def test_transformer_export_is_torch_encoder_layer(causal, heads):
    torch = pytest.importorskip("torch")
    N, D, F = 7, 12, 10
    layer, (X, G) = encoder_layer(torch, D, heads, F, eps=1e-3), data(N, D)
    x = torch.tensor(X, requires_grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(N, dtype=torch.float64) if causal else None
    z = layer(x[None], src_mask=mask, is_causal=causal)[0]
    (torch.tensor(G) * z).sum().backward()
    arguments = {"X": X, "G": G, **module("transformer").from_torch_layout(layer.state_dict())}
    grads = module("transformer").grad(**arguments, heads=heads, causal=causal, eps=1e-3)
    by_torch = {"X": x.grad, **{k: p.grad for k, p in layer.named_parameters()}}
    expected = module("transformer").from_torch_layout({k: v for k, v in by_torch.items() if k != "X"})
    for name, value in {"X": by_torch["X"].numpy(), "G": z.detach().numpy(), **expected}.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_export_is_torch_multihead_attention(causal):
    torch = pytest.importorskip("torch")
    N, D, heads = 6, 8, 2
    torch.manual_seed(2)
    layer, (X, G) = torch.nn.MultiheadAttention(D, heads, batch_first=True, dtype=torch.float64), data(N, D)
    with torch.no_grad():
        layer.in_proj_bias.normal_()  # zero at initialisation
    x = torch.tensor(X, requires_grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(N, dtype=torch.float64) if causal else None
    y = layer(x[None], x[None], x[None], need_weights=False, attn_mask=mask, is_causal=causal)[0][0]
    (torch.tensor(G) * y).sum().backward()
    layout = module("mha").from_torch_layout
    arguments = {"X": X, "G": G, **layout(layer.in_proj_weight, layer.in_proj_bias, layer.out_proj.weight,
                                         layer.out_proj.bias)}
    grads = module("mha").grad(**arguments, heads=heads, causal=causal)
    expected = layout(layer.in_proj_weight.grad, layer.in_proj_bias.grad, layer.out_proj.weight.grad,
                      layer.out_proj.bias.grad)
    for name, value in {"X": x.grad.numpy(), **expected}.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


def random_block(N, D, F, seed=3) -> dict:
    rng = np.random.default_rng(seed)
    shapes = {n: tuple({"N": N, "D": D, "F": F}[s] for s in dims) for n, dims in module("transformer").SHAPES.items()}
    return {n: rng.standard_normal(shape) / np.sqrt(shape[-1]) for n, shape in shapes.items()}


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_export_is_the_hand_written_block(causal):
    arguments = random_block(N=9, D=8, F=6)
    got = module("transformer").grad(**arguments, heads=4, causal=causal, eps=0.01)
    expected = handwritten_transformer.grad(**arguments, heads=4, causal=causal, eps=0.01)
    for name in arguments:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["X", "W_k", "b_q", "gamma_2"])
def test_transformer_gradients_are_central_differences_with_two_heads(name):
    arguments, options = random_block(N=4, D=4, F=3, seed=4), {"heads": 2, "causal": True}
    got = module("transformer").grad(**arguments, **options)[name]
    numeric = central_differences(lambda a: module("transformer").loss(**a, **options), arguments, name)
    assert compare(got, numeric)[2]


def test_the_key_bias_gets_no_gradient():
    """Softmax is shift-invariant: b_k moves every score of a query by the same amount."""
    grads = module("transformer").grad(**random_block(N=5, D=6, F=4), heads=3)
    assert np.max(np.abs(grads["b_k"])) < 1e-12 < np.max(np.abs(grads["b_q"]))


@pytest.mark.parametrize("name", ["mha", "transformer"])
@pytest.mark.parametrize("heads, message", [(4, "heads=4 does not divide the width D = 6 into heads of"),
                                            (0, "heads must be"),
                                            (2.0, "heads must be"), (True, "heads must be")])
def test_heads_must_divide_the_width(name, heads, message):
    arguments = {n: np.ones([{"N": 3, "D": 6, "F": 5}[s] for s in dims]) for n, dims in module(name).SHAPES.items()}
    with pytest.raises(ValueError, match=message):
        module(name).grad(**arguments, heads=heads)


@pytest.mark.parametrize("name", ["mha", "transformer"])
def test_heads_is_a_required_keyword(name):
    arguments = {n: np.ones([3] * len(dims)) for n, dims in module(name).SHAPES.items()}
    with pytest.raises(TypeError, match="heads"):
        module(name).forward(**arguments)


def test_from_torch_layout_names_what_is_missing():
    with pytest.raises(ValueError, match="not a TransformerEncoderLayer's state_dict"):
        module("transformer").from_torch_layout({"linear1.weight": np.ones((2, 2))})
    with pytest.raises(ValueError, match="in_proj_weight must be"):
        module("mha").from_torch_layout(np.ones((4, 2)), np.ones(6), np.ones((2, 2)), np.ones(2))


def test_the_residual_paths_pass_the_adjoint_on_unchanged():
    r"""``Y = X + M`` and ``Z = Y + ...``: ``\bar Y`` has ``\bar Z`` as a term, ``\bar X`` has ``\bar Y`` (the
    identity's share), as the document's residual section says."""
    adjoints = derivation("transformer").backward.adjoint_of
    for value, upstream in (("Y", "Z"), ("X", "Y")):
        assert adjoints[upstream].adjoint in [term.expr for term in adjoints[value].terms]


GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.mark.parametrize("name", ["mha", "transformer"])
@pytest.mark.parametrize("fmt, ext", [("markdown", "md"), ("tex", "tex")])
def test_golden_documents(name, fmt, ext):
    """Refresh after an intended change with `make golden` (and review the diff)."""
    assert derivation(name).to_latex(fmt) == (GOLDEN / f"{name}.{ext}").read_text(encoding="utf-8")


@pytest.mark.parametrize("layout", ["row", "column"])
def test_both_layouts_print_the_model_as_written(layout):
    """Rows are tokens: a layout would transpose vectors, and there are none to transpose."""
    block = derivation("transformer")
    assert block.to_latex("markdown", layout=layout) == block.to_latex("markdown")


def test_a_width_of_zero_has_no_heads():
    arguments = {n: np.ones([{"N": 3, "D": 0}[s] for s in dims]) for n, dims in module("mha").SHAPES.items()}
    with pytest.raises(ValueError, match="heads=1 does not divide the width D = 0"):
        module("mha").grad(**arguments, heads=1)
