"""A user's own model gets the batch axis too (issue 18): a sigmoid RNN with a softmax cross-entropy loss and
a scalar recurrence (every value one number per step), each checked against its unbatched export run example
by example and against central differences of the batched loss."""
import numpy as np
import pytest

import symderive as sd
from symderive.verify.numeric import central_differences
from tests.export.cases import assert_batch_is_its_examples


def softmax_rnn() -> sd.Model:
    m = sd.Model("softmax_rnn")
    n, d, q = m.sizes("n d q")
    W_hh, W_xh, b, W_hy = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b", n), m.param("W_hy", q, n)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h = m.state("h", n)
    m.let(h, sd.sigmoid(W_hh @ h.prev + W_xh @ x + b))
    m.loss(sd.cross_entropy(W_hy @ h, y))
    return m


def scalar_rnn() -> sd.Model:
    m = sd.Model("scalar_rnn_batch")
    w, u, x, y = m.param("w"), m.param("u"), m.sequence("x"), m.sequence("y")
    h = m.state("h")
    m.let(h, sd.tanh(w @ h.prev + u @ x))
    m.loss((h - y) ** 2 / 2)
    return m


@pytest.fixture(scope="module", params=[softmax_rnn, scalar_rnn], ids=["softmax_rnn", "scalar_rnn"])
def module(request):
    return sd.derive(request.param()).load_module()


def batch(module, B=3, T=4, seed=0):
    rng = np.random.default_rng(seed)
    sizes = {"n": 5, "d": 3, "q": 4, "T": T}
    out = {}
    for name, axes in module.SHAPES.items():
        shape = tuple(sizes[a] for a in axes)
        out[name] = rng.standard_normal(((B,) if name in module.BATCH else ()) + shape) * 0.5
    if "q" in str(module.SHAPES["y"]):
        out["y"] = np.abs(out["y"]) / np.abs(out["y"]).sum(axis=-1, keepdims=True)  # a distribution per step
    return out


def test_user_model_batch_is_the_sum_of_its_examples(module):
    arrays = batch(module)
    assert_batch_is_its_examples(module, arrays, module.grad, 3)


def test_user_model_batch_matches_central_differences(module):
    arrays = batch(module, seed=1)
    got = module.grad(**arrays)
    for name in ("x", "h0", next(iter(module.SHAPES))):
        numeric = central_differences(lambda a: module.loss(**a), arrays, name)
        np.testing.assert_allclose(got[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)
