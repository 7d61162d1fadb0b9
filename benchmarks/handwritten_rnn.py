"""A hand-written vectorized NumPy BPTT for the vanilla RNN: the baseline of the benchmark and an
independent oracle for the tests (written from the equations, sharing no code with symderive).

    z_t = W_hh h_{t-1} + W_xh x_t + b_h,  h_t = tanh(z_t),  o_t = W_hy h_t + b_y,
    L = sum_t 1/2 ||o_t - y_t||^2
"""
import numpy as np


def forward(W_hh, W_xh, b_h, W_hy, b_y, h0, x):
    """Hidden states (row 0 is h0) and outputs: one product and one tanh per step, written in place."""
    T, n = x.shape[0], W_hh.shape[0]
    h = np.empty((T + 1, n))
    h[0] = h0
    np.matmul(x, W_xh.T, out=h[1:])
    h[1:] += b_h
    W_hh_T = W_hh.T
    for t in range(T):
        row = h[t + 1]
        row += h[t] @ W_hh_T
        np.tanh(row, out=row)
    return h, h[1:] @ W_hy.T + b_y


def grad(W_hh, W_xh, b_h, W_hy, b_y, h0, x, y):
    """Full BPTT, as a careful hand-written version does it: the input products of every step at once,
    one product per step each way, tanh and the adjoint updated in place in preallocated rows, no
    step value stored that nothing reads, one matrix product per weight gradient."""
    h, o = forward(W_hh, W_xh, b_h, W_hy, b_y, h0, x)
    do = np.subtract(o, y, out=o)
    dz = do @ W_hy  # dL/dh_t from the output, then dL/dz_t in place
    slope = h[1:] * h[1:]
    np.subtract(1.0, slope, out=slope)  # 1 - h_t^2
    dz[-1] *= slope[-1]
    for t in range(x.shape[0] - 2, -1, -1):
        row = dz[t]
        row += dz[t + 1] @ W_hh
        row *= slope[t]
    return {"W_hh": dz.T @ h[:-1], "W_xh": dz.T @ x, "b_h": dz.sum(0), "W_hy": do.T @ h[1:],
            "b_y": do.sum(0), "h0": dz[0] @ W_hh, "x": dz @ W_xh, "y": -do}


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
