"""Every export takes an optional leading batch axis (issue 18): the loss is the sum over the batch, a
parameter's gradient the sum of the examples' gradients, a per-example argument's gradient has its shape.

Checked three independent ways: against the unbatched export run example by example, against central
differences of the batched loss, and against PyTorch's batched modules (``batch_first=True``)."""

import numpy as np
import pytest

from symderive import available
from symderive.verify.numeric import central_differences
from tests.export.cases import first_case, module

B = 3


def examples(name, seed=0, shared=()):
    """(batched arrays, the list of each example's arrays, options): the per-example arguments of the
    first case perturbed B ways; the arguments named in ``shared`` are given once for the batch."""
    arrays, options = first_case(name)
    rng = np.random.default_rng(seed)
    batch, kinds = {}, module(name).BATCH
    for arg, value in arrays.items():
        if arg not in kinds or arg in shared:
            batch[arg] = value
        elif name == "cnn" and arg == "y":  # a class target: class indices of the examples
            batch[arg] = rng.integers(0, value.shape[0], size=B)
        else:
            batch[arg] = np.stack([value + 0.3 * rng.standard_normal(value.shape) for _ in range(B)])
    each = [{arg: v[k] if arg in kinds and arg not in shared else v for arg, v in batch.items()} for k in range(B)]
    return batch, each, options


@pytest.mark.parametrize("name", available())
def test_a_batch_is_the_sum_of_its_examples(name):
    m = module(name)
    batch, each, options = examples(name)
    got = m.grad(**batch, **options)
    per = [m.grad(**example, **options) for example in each]
    np.testing.assert_allclose(m.loss(**batch, **options), sum(m.loss(**e, **options) for e in each), rtol=1e-12)
    for arg, value in got.items():
        want = np.stack([p[arg] for p in per]) if arg in m.BATCH else sum(p[arg] for p in per)
        assert value.shape == np.shape(batch[arg]) or name == "cnn" and arg == "y", arg
        np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=f"{name}: {arg}")


@pytest.mark.parametrize("name", [n for n in available() if "h0" in module(n).BATCH])
def test_a_shared_initial_state_gets_the_sum_of_its_gradients(name):
    m = module(name)
    states = [arg for arg, kind in m.BATCH.items() if kind == "shared"]
    batch, each, options = examples(name, seed=1, shared=states)
    got = m.grad(**batch, **options)
    for arg in states:
        assert got[arg].shape == batch[arg].shape
        np.testing.assert_allclose(got[arg], sum(m.grad(**e, **options)[arg] for e in each), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["rnn", "gru", "conv2d", "dense"])
def test_batched_gradient_matches_central_differences(name):
    m = module(name)
    batch, _, options = examples(name, seed=2)
    got = m.grad(**batch, **options)
    for arg in list(m.BATCH)[:1] + [a for a in batch if a not in m.BATCH][:1]:
        numeric = central_differences(lambda arrays: m.loss(**arrays, **options), batch, arg)
        np.testing.assert_allclose(got[arg], numeric, rtol=1e-5, atol=1e-7, err_msg=arg)


@pytest.mark.parametrize("name", ["rnn", "lstm", "conv2d"])
def test_forward_values_are_per_example(name):
    m = module(name)
    batch, each, options = examples(name, seed=3)
    got = m.forward(**batch, **options)
    for k, example in enumerate(each):
        for value_name, value in m.forward(**example, **options).items():
            if np.ndim(value):
                np.testing.assert_allclose(got[value_name][k], value, rtol=1e-12, atol=1e-13)


def test_a_bad_batch_names_the_argument():
    m = module("rnn")
    batch, each, _ = examples("rnn")
    with pytest.raises(ValueError, match=r"^y: expected a batch of shape \(B, T, q\) as x of shape \(3, "):
        m.grad(**{**batch, "y": each[0]["y"]})
    with pytest.raises(ValueError, match=r"^h0: expected a batch of B = 3 examples \(as in x of shape "
                       r"\(3, 20, 8\)\), got shape \(2, 16\)$"):
        m.grad(**{**batch, "h0": np.zeros((2, batch["h0"].shape[-1]))})
    one_example = r"\(the shape of one example of the batch\)$"
    with pytest.raises(ValueError, match=r"^W_xh or x has the wrong shape: .*" + one_example):
        m.grad(**{**batch, "x": batch["x"][:, :, :-1]})
    with pytest.raises(ValueError, match=r"^x: the batch is empty \(B = 0\), got shape \(0, 20, 8\)$"):
        m.grad(**{**batch, "x": batch["x"][:0], "y": batch["y"][:0], "h0": batch["h0"][:0]})


def test_cnn_refuses_bad_class_indices():
    m = module("cnn")
    batch, _, options = examples("cnn")
    with pytest.raises(ValueError, match=r"^y: the class indices of a batch must be integers"):
        m.grad(**{**batch, "y": np.array([0.5, 1.0, 0.0])}, **options)


# ---------------------------------------------------------------------------------------------
# PyTorch's batched modules.

def torch_recurrent(name, batch):
    """grad of the export's loss through torch.nn.RNN/LSTM/GRU(batch_first=True), our weights copied in."""
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    gates = {"rnn": None, "lstm": "ifgo", "gru": "rzn"}[name]
    H, d = batch["W_hy"].shape[1], batch["x"].shape[-1]
    kind = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
    layer = kind(d, H, batch_first=True, dtype=torch.float64)
    if gates:
        stacked = {p: np.concatenate([batch[f"{p[0]}_{p[2]}{g}"] for g in gates])
                   for p in ("W_hi", "W_ii", "b_ii", "b_hi")}
        weights = [stacked["W_ii"], stacked["W_hi"], stacked["b_ii"], stacked["b_hi"]]
    else:
        weights = [batch["W_xh"], batch["W_hh"], batch["b_h"], np.zeros(H)]
    with torch.no_grad():
        for p, w in zip(layer.parameters(), weights):
            p.copy_(torch.tensor(w))
    names = ("x", "h0", "W_hy", "b_y", *(("c0",) * (name == "lstm")))
    t = {k: torch.tensor(batch[k], requires_grad=True) for k in names}
    state = t["h0"][None] if name != "lstm" else (t["h0"][None], t["c0"][None])
    hs, _ = layer(t["x"], state)
    out = hs @ t["W_hy"].T + t["b_y"]
    loss = torch.nn.functional.mse_loss(out, torch.tensor(batch["y"]), reduction="sum") / 2
    grads = torch.autograd.grad(loss, [*t.values(), *layer.parameters()])
    return loss.item(), dict(zip([*t, "weight_ih", "weight_hh", "bias_ih", "bias_hh"], (g.numpy() for g in grads)))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_recurrent_batch_agrees_with_torch_batch_first(name):
    m = module(name)
    batch, _, _ = examples(name, seed=4)
    loss, want = torch_recurrent(name, batch)
    got = m.grad(**batch)
    np.testing.assert_allclose(m.loss(**batch), loss, rtol=1e-12)
    for arg in ("x", "h0", "W_hy", "b_y", *(("c0",) * (name == "lstm"))):
        np.testing.assert_allclose(got[arg], want[arg], rtol=1e-9, atol=1e-11, err_msg=arg)
    gates = {"rnn": [""], "lstm": list("ifgo"), "gru": list("rzn")}[name]
    ours = {"rnn": {"weight_ih": ["W_xh"], "weight_hh": ["W_hh"], "bias_ih": ["b_h"]}}.get(name) or {
        "weight_ih": [f"W_i{g}" for g in gates], "weight_hh": [f"W_h{g}" for g in gates],
        "bias_ih": [f"b_i{g}" for g in gates], "bias_hh": [f"b_h{g}" for g in gates]}
    for torch_name, names in ours.items():
        np.testing.assert_allclose(np.concatenate([got[n] for n in names]), want[torch_name], rtol=1e-9, atol=1e-11)


def test_conv2d_and_pool2d_batches_agree_with_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    F = torch.nn.functional
    batch, _, options = examples("conv2d", seed=5)
    t = {k: torch.tensor(batch[k], requires_grad=True) for k in ("X", "W", "b")}
    Y = F.conv2d(t["X"], t["W"], t["b"], **options)
    want = torch.autograd.grad((Y * torch.tensor(batch["G"])).sum(), list(t.values()))
    got = module("conv2d").grad(**batch, **options)
    np.testing.assert_allclose(got["G"], Y.detach().numpy(), rtol=1e-9, atol=1e-11)
    for arg, g in zip(t, want):
        np.testing.assert_allclose(got[arg], g.numpy(), rtol=1e-9, atol=1e-11, err_msg=arg)
    batch, _, options = examples("pool2d", seed=5)
    X = torch.tensor(batch["X"], requires_grad=True)
    K = options.get("kernel_size", 2)
    Y = F.max_pool2d(X, K, options.get("stride") or K, options.get("padding", 0))
    (want,) = torch.autograd.grad((Y * torch.tensor(batch["G"])).sum(), [X])
    np.testing.assert_allclose(module("pool2d").grad(**batch, **options)["X"], want.numpy(), rtol=1e-9, atol=1e-11)
