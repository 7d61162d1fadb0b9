"""A batch of token matrices (issue 18 for issue 17's exports): ``Q``, ``K``, ``V``, ``X`` and ``G`` of shape
(B, N, D), the loss summed over the batch, agree with PyTorch's batched modules in float64 (``reduction="sum"``:
the loss is ``sum(G * output)`` over every example), to 1e-9. The weights come from the torch module itself, read
by the export's ``from_torch_layout``; its gradients are read the same way (the layout is a slicing, so the
gradient of a slice is the slice of the gradient)."""
import numpy as np
import pytest

from tests.export.test_batch import examples, module

torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")


def tensors(batch, names):
    return {k: torch.tensor(batch[k], requires_grad=True) for k in names}


def assert_agree(got, want, names):
    for arg in names:
        np.testing.assert_allclose(got[arg], want[arg], rtol=1e-9, atol=1e-11, err_msg=arg)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_batch_agrees_with_scaled_dot_product_attention(causal):
    batch, _, _ = examples("attention", seed=6)
    t = tensors(batch, ("Q", "K", "V"))
    output = torch.nn.functional.scaled_dot_product_attention(t["Q"], t["K"], t["V"], is_causal=causal)
    loss = (torch.tensor(batch["G"]) * output).sum()
    grads = torch.autograd.grad(loss, list(t.values()))
    want = {**dict(zip(t, (g.numpy() for g in grads))), "G": output.detach().numpy()}
    m = module("attention")
    np.testing.assert_allclose(m.loss(**batch, causal=causal), loss.item(), rtol=1e-12)
    assert_agree(m.grad(**batch, causal=causal), want, ("Q", "K", "V", "G"))


def test_mha_batch_agrees_with_multihead_attention_batch_first():
    batch, _, options = examples("mha", seed=7)
    D = batch["X"].shape[-1]
    torch.manual_seed(0)
    layer = torch.nn.MultiheadAttention(D, options["heads"], batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # biases are zero at initialisation: make them count
        for bias in (layer.in_proj_bias, layer.out_proj.bias):
            bias.normal_()
    weights = (layer.in_proj_weight, layer.in_proj_bias, layer.out_proj.weight, layer.out_proj.bias)
    m = module("mha")
    args = {**batch, **m.from_torch_layout(*(w.detach() for w in weights))}
    t = tensors(batch, ("X",))
    Y, _ = layer(t["X"], t["X"], t["X"], need_weights=False)
    loss = (torch.tensor(batch["G"]) * Y).sum()
    grads = torch.autograd.grad(loss, [t["X"], *weights])
    want = {"X": grads[0].numpy(), "G": Y.detach().numpy(), **m.from_torch_layout(*grads[1:])}
    np.testing.assert_allclose(m.loss(**args, **options), loss.item(), rtol=1e-12)
    assert_agree(m.grad(**args, **options), want, want)
    assert set(want) == set(m.SHAPES)  # every argument compared


def test_transformer_batch_agrees_with_encoder_layer_batch_first_norm_first():
    batch, _, options = examples("transformer", seed=8)
    D, F = batch["X"].shape[-1], batch["W_1"].shape[0]
    torch.manual_seed(1)
    layer = torch.nn.TransformerEncoderLayer(D, options["heads"], dim_feedforward=F, dropout=0.0,
                                             batch_first=True, norm_first=True, dtype=torch.float64)
    with torch.no_grad():  # layer norms start at gamma = 1, beta = 0 and biases at 0: make every one count
        for p in layer.parameters():
            if p.ndim == 1:
                p.add_(0.3 * torch.randn_like(p))
    m = module("transformer")
    params = dict(layer.named_parameters())
    args = {**batch, **m.from_torch_layout({k: p.detach() for k, p in params.items()})}
    t = tensors(batch, ("X",))
    Z = layer(t["X"])
    loss = (torch.tensor(batch["G"]) * Z).sum()
    grads = torch.autograd.grad(loss, [t["X"], *params.values()])
    want = {"X": grads[0].numpy(), "G": Z.detach().numpy(), **m.from_torch_layout(dict(zip(params, grads[1:])))}
    np.testing.assert_allclose(m.loss(**args, **options), loss.item(), rtol=1e-12)
    assert_agree(m.grad(**args, **options), want, want)
    assert set(want) == set(m.SHAPES)  # every argument compared
