"""The vanilla RNN, written from its equations one step at a time, as an oracle for the tests:

    z_t = W_hh h_{t-1} + W_xh x_t + b_h,   h_t = tanh(z_t),   o_t = W_hy h_t + b_y,
    L = sum_{t=1}^{T} l_t,   l_t = 1/2 ||o_t - y_t||^2.

Arrays are 0-based: ``h[t]`` is h_t (``h[0]`` is h_0), while ``x[t - 1]``, ``y[t - 1]`` and ``o[t - 1]`` belong to
step t. The gradient is d2l.ai's BPTT sum read literally: each loss l_t is followed back through the steps
t, t-1, ..., 1, and every step it passes adds its outer products to the weight gradients. Truncation stops that walk
early; the state it stops at is a constant for l_t.
"""
import numpy as np

NAMES = ("W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "x", "y")


def forward(W_hh, W_xh, b_h, W_hy, b_y, h0, x):
    """The states h_0, ..., h_T as rows of a (T+1, n) array and the outputs o_1, ..., o_T as rows of (T, q)."""
    h = [h0]
    for x_t in x:
        h.append(np.tanh(W_hh @ h[-1] + W_xh @ x_t + b_h))
    o = [W_hy @ h_t + b_y for h_t in h[1:]]
    return np.array(h), np.array(o)


#: The step at which the chain of l_t stops, for truncation with K steps: "blocks" cuts the steps into blocks
#: 1..K, K+1..2K, ... and stops at the first step of t's block; "window" keeps the last K steps t-K+1, ..., t.
FIRST_STEP = {
    "blocks": lambda t, K: (t - 1) // K * K + 1,
    "window": lambda t, K: max(1, t - K + 1),
}


def grad(W_hh, W_xh, b_h, W_hy, b_y, h0, x, y):
    """dL/d(every argument) by full BPTT: the chain of each loss l_t runs back to step 1."""
    arrays = dict(W_hh=W_hh, W_xh=W_xh, b_h=b_h, W_hy=W_hy, b_y=b_y, h0=h0, x=x, y=y)
    return _walk_back(arrays, lambda t: 1)


def grad_truncated(W_hh, W_xh, b_h, W_hy, b_y, h0, x, y, K, mode):
    """dL/d(every argument) by truncated BPTT with K steps in ``mode`` "blocks" or "window" (see FIRST_STEP).
    The chain reaches h_0 only when it reaches step 1."""
    arrays = dict(W_hh=W_hh, W_xh=W_xh, b_h=b_h, W_hy=W_hy, b_y=b_y, h0=h0, x=x, y=y)
    return _walk_back(arrays, lambda t: FIRST_STEP[mode](t, K))


def _walk_back(a, first):
    """Sum over t = 1..T of dl_t/d(every argument), l_t's chain walking back from step t to step ``first(t)``."""
    h, o = forward(*(a[name] for name in NAMES[:-1]))
    g = {name: np.zeros_like(a[name], dtype=float) for name in NAMES}
    for t in range(1, len(a["x"]) + 1):
        residual = o[t - 1] - a["y"][t - 1]  # dl_t/do_t
        g["W_hy"] += np.outer(residual, h[t])
        g["b_y"] += residual
        g["y"][t - 1] -= residual
        dh = a["W_hy"].T @ residual  # dl_t/dh_s, starting at s = t
        for s in range(t, first(t) - 1, -1):
            dz = dh * (1.0 - h[s] ** 2)  # tanh'(z_s) = 1 - h_s^2
            g["W_hh"] += np.outer(dz, h[s - 1])
            g["W_xh"] += np.outer(dz, a["x"][s - 1])
            g["b_h"] += dz
            g["x"][s - 1] += a["W_xh"].T @ dz
            dh = a["W_hh"].T @ dz  # now dl_t/dh_{s-1}
        if first(t) == 1:
            g["h0"] += dh
    return g
