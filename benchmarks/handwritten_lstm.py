"""A hand-written vectorized NumPy LSTM BPTT (PyTorch's equations, gates i, f, g, o stacked so that each
step is one matrix-vector product), as a careful implementation does it: the benchmark's baseline and
an independent oracle for the tests. Takes the same arguments as the exported module."""
import numpy as np

GATES = "ifgo"


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def grad(x, y, h0, c0, W_hy, b_y, **p):
    W_ih = np.concatenate([p[f"W_i{g}"] for g in GATES])
    W_hh = np.concatenate([p[f"W_h{g}"] for g in GATES])
    b = np.concatenate([p[f"b_i{g}"] + p[f"b_h{g}"] for g in GATES])
    T, H = x.shape[0], h0.shape[0]
    hs, cs, acts = np.empty((T + 1, H)), np.empty((T + 1, H)), np.empty((T, 4 * H))
    hs[0], cs[0] = h0, c0
    pre = x @ W_ih.T + b
    for t in range(T):
        a = pre[t] + W_hh @ hs[t]
        act = acts[t]
        act[:2 * H] = sigmoid(a[:2 * H])
        act[2 * H:3 * H] = np.tanh(a[2 * H:3 * H])
        act[3 * H:] = sigmoid(a[3 * H:])
        cs[t + 1] = act[H:2 * H] * cs[t] + act[:H] * act[2 * H:3 * H]
        hs[t + 1] = act[3 * H:] * np.tanh(cs[t + 1])
    yhat = hs[1:] @ W_hy.T + b_y
    dy = yhat - y
    dh_out = dy @ W_hy
    tanh_c = np.tanh(cs[1:])
    da = np.empty((T, 4 * H))
    dh_next, dc_next = np.zeros(H), np.zeros(H)
    for t in range(T - 1, -1, -1):
        i, f, g, o = acts[t, :H], acts[t, H:2 * H], acts[t, 2 * H:3 * H], acts[t, 3 * H:]
        dh = dh_out[t] + dh_next
        dc = dh * o * (1.0 - tanh_c[t] ** 2) + dc_next
        da[t, :H] = dc * g * i * (1.0 - i)
        da[t, H:2 * H] = dc * cs[t] * f * (1.0 - f)
        da[t, 2 * H:3 * H] = dc * i * (1.0 - g * g)
        da[t, 3 * H:] = dh * tanh_c[t] * o * (1.0 - o)
        dh_next = W_hh.T @ da[t]
        dc_next = dc * f
    dW_ih, dW_hh, db = da.T @ x, da.T @ hs[:-1], da.sum(0)
    out = {"W_hy": dy.T @ hs[1:], "b_y": dy.sum(0), "h0": dh_next, "c0": dc_next, "x": da @ W_ih, "y": -dy}
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        out.update({f"W_i{gate}": dW_ih[rows], f"W_h{gate}": dW_hh[rows],
                    f"b_i{gate}": db[rows], f"b_h{gate}": db[rows]})
    return out
