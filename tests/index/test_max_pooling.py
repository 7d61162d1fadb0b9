"""Max pooling in the exported modules picks the entry torch's max_pool2d picks, infinities and NaN included.

Issue 12: the maximum was computed as sum(mask * window), so a -inf (or a second +inf) in a window gave
0 * inf = NaN where the true maximum is finite: forward(X=[[[1, -inf], [0, 0]]], kernel_size=2) was NaN.
"""
import math

import numpy as np
import pytest

from symderive import available, derivation
from symderive.index.kernels import window_max
from symderive.index.program import WindowMax

INF, NAN = math.inf, math.nan

# One 2x2 window (row-major) -> the maximum and the entry that gets the gradient, as torch 2.13's CPU
# max_pool2d gives them (torch keeps the first maximum, but any NaN replaces it: `val > maxval || isnan(val)`).
WINDOWS = [
    ([1, -INF, 0, 0], 1.0, 0),  # the issue's case
    ([-INF, -INF, -INF, -INF], -INF, 0),
    ([-INF, -INF, -INF, 2], 2.0, 3),
    ([INF, 1, INF, 0], INF, 0),  # two +inf: the first
    ([2, 5, 5, 1], 5.0, 1),  # a tie: the first
    ([NAN, 1, NAN, 2], NAN, 2),  # NaN: the last one
    ([1, NAN, INF, NAN], NAN, 3),
    ([1, 2, NAN, 2], NAN, 2),
    ([-INF, NAN, -INF, 1], NAN, 1),
]


@pytest.fixture(scope="module")
def pool2d():
    return derivation("pool2d").load_module()


@pytest.mark.parametrize("window,maximum,picked", WINDOWS)
def test_one_window_by_hand(pool2d, window, maximum, picked):
    X, G = np.array(window, dtype=float).reshape(1, 2, 2), np.full((1, 1, 1), 3.0)
    Y = pool2d.forward(X, G, kernel_size=2)["Y"]
    np.testing.assert_array_equal(Y, np.full((1, 1, 1), maximum))
    want = np.zeros(4)
    want[picked] = 3.0
    np.testing.assert_array_equal(pool2d.grad(X, G, kernel_size=2)["X"].reshape(-1), want)


def test_the_issue_case(pool2d):
    out = pool2d.forward(X=[[[1, -INF], [0, 0]]], G=np.ones((1, 1, 1)), kernel_size=2)
    assert out["Y"].tolist() == [[[1.0]]]
    assert out["M"].reshape(-1).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_the_kernel_keeps_the_leading_axes_and_empty_arrays():
    view = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 2, 2)
    mask, maximum = window_max(view, 2)
    assert mask.shape == view.shape and np.array_equal(maximum, view[..., 1, 1])
    mask, maximum = window_max(np.zeros((0, 3, 2, 2)), 2)
    assert mask.shape == (0, 3, 2, 2) and maximum.shape == (0, 3)


def hostile(shape, rng):
    """Standard normal entries, some of them -inf, +inf or NaN."""
    X = rng.standard_normal(shape)
    for value in (-INF, INF, NAN):
        X[rng.random(shape) < 0.15] = value
    return X


@pytest.mark.parametrize("kernel,stride", [((2, 2), None), ((3, 2), (1, 2)), ((2, 3), (1, 1))])
def test_matches_torch_with_infinities_and_nan(pool2d, kernel, stride):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for _ in range(20):
        X = hostile((2, 7, 6), rng)
        x = torch.tensor(X, requires_grad=True)
        y = torch.nn.functional.max_pool2d(x, kernel, stride or kernel)
        G = rng.standard_normal(tuple(y.shape))
        y.backward(torch.tensor(G))
        with np.errstate(invalid="ignore"):  # the loss sum(G * Y) of an infinite Y
            out = pool2d.forward(X, G, kernel_size=kernel, stride=stride)
            dX = pool2d.grad(X, G, kernel_size=kernel, stride=stride)["X"]
        np.testing.assert_array_equal(out["Y"], y.detach().numpy())
        # Overlapping windows add in another order than torch's: the same entries, equal to rounding (an
        # entry sums up to 6 entries of G, each of size ~1: a few units of 2^-53 absolute, however small the sum).
        np.testing.assert_array_equal(dX != 0, x.grad.numpy() != 0)
        np.testing.assert_allclose(dX, x.grad.numpy(), rtol=1e-14, atol=1e-14)


def test_cnn_pools_infinite_features():
    # A bias of +inf makes a whole feature map +inf: every pooling window holds several +inf entries.
    cnn = derivation("cnn").load_module()
    rng = np.random.default_rng(0)
    X, W, V = rng.standard_normal((2, 6, 6)), np.zeros((3, 2, 3, 3)), np.zeros((4, 3, 2, 2))
    b = np.array([INF, -INF, 0.0])
    with np.errstate(invalid="ignore"):  # the logits 0 * inf
        out = cnn.forward(X, W, b, V, np.zeros(4), 1)
    assert np.all(out["Pm"][0] == INF) and np.all(out["Pm"][1:] == 0.0)


def test_every_built_in_with_max_pooling_is_tested_here():
    pooled = {name for name in available() for _, program in derivation(name).variants
              if any(isinstance(op, WindowMax) for op in getattr(program, "ops", ()))}
    assert pooled == {"pool2d", "cnn"}
