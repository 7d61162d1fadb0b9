"""A hand-written vectorized NumPy BPTT for the vanilla RNN: the baseline of the benchmark and an
independent oracle for the tests (written from the equations, sharing no code with symderive).

    z_t = W_hh h_{t-1} + W_xh x_t + b_h,  h_t = tanh(z_t),  o_t = W_hy h_t + b_y,
    L = sum_t 1/2 ||o_t - y_t||^2
"""
import numpy as np


def forward(W_hh, W_xh, b_h, W_hy, b_y, h0, x):
    T, n = x.shape[0], W_hh.shape[0]
    h = np.empty((T + 1, n))
    h[0] = h0
    pre = x @ W_xh.T + b_h
    for t in range(T):
        h[t + 1] = np.tanh(pre[t] + W_hh @ h[t])
    return h, h[1:] @ W_hy.T + b_y


def grad(W_hh, W_xh, b_h, W_hy, b_y, h0, x, y):
    """Full BPTT, as a careful hand-written version does it: one matrix product per weight."""
    h, o = forward(W_hh, W_xh, b_h, W_hy, b_y, h0, x)
    do = o - y
    dh_out = do @ W_hy
    T, n = x.shape[0], W_hh.shape[0]
    dz = np.empty((T, n))
    carry = np.zeros(n)
    for t in range(T - 1, -1, -1):
        dz[t] = (dh_out[t] + carry) * (1.0 - h[t + 1] ** 2)
        carry = W_hh.T @ dz[t]
    return {"W_hh": dz.T @ h[:-1], "W_xh": dz.T @ x, "b_h": dz.sum(0), "W_hy": do.T @ h[1:],
            "b_y": do.sum(0), "h0": carry, "x": dz @ W_xh, "y": -do}


def grad_truncated(W_hh, W_xh, b_h, W_hy, b_y, h0, x, y, K, mode):
    """Truncated BPTT straight from the definitions, one loss (or one block) at a time: slow, plain."""
    h, o = forward(W_hh, W_xh, b_h, W_hy, b_y, h0, x)
    T, n = x.shape[0], W_hh.shape[0]
    dz = np.zeros((T, n))
    for t in range(T):  # the loss of step t+1 (0-based t)
        first = (t // K) * K if mode == "blocks" else max(0, t - K + 1)
        g = W_hy.T @ (o[t] - y[t])
        for s in range(t, first - 1, -1):
            dz[s] += g * (1.0 - h[s + 1] ** 2)
            g = W_hh.T @ (g * (1.0 - h[s + 1] ** 2))
    do = o - y
    dh0 = W_hh.T @ dz[0]
    return {"W_hh": dz.T @ h[:-1], "W_xh": dz.T @ x, "b_h": dz.sum(0), "W_hy": do.T @ h[1:],
            "b_y": do.sum(0), "h0": dh0, "x": dz @ W_xh, "y": -do}
