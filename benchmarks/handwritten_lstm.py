"""A hand-written vectorized NumPy LSTM BPTT (PyTorch's equations), as careful as we could make it: the
benchmark's baseline and an independent oracle for the tests. Takes the same arguments as the export.

What makes it careful:
* the gates are stacked (order i, f, o, g so that the three sigmoid gates are contiguous) and the
  input products of every step are one matrix product before the loop: one product per step each way;
* the sigmoid gates' rows of the weights are scaled by 1/2 once, so one ``tanh`` over all four gates gives
  ``tanh(a_g)`` and ``tanh(a/2)``, and ``sigmoid(a) = (1 + tanh(a/2)) / 2`` is two in-place updates;
* every step writes into preallocated rows (``out=``), and only what the backward pass reads is stored;
* the backward factors that need no recurrence (``o (1 - tanh^2 c)``, ``i (1 - i) g``, ...) are
  computed for all steps at once before the loop, so a step is a product and a few in-place updates.
"""
import numpy as np

ORDER = "ifog"  # stacked order (the sigmoid gates first); PyTorch's is i, f, g, o


def stacked(p: dict):
    """(W_ih, W_hh, b) with the gates stacked in ORDER, sigmoid rows scaled by 1/2."""
    scale = np.repeat([0.5, 0.5, 0.5, 1.0], p["W_hi"].shape[0])[:, None]
    W_ih = np.concatenate([p[f"W_i{g}"] for g in ORDER]) * scale
    W_hh = np.concatenate([p[f"W_h{g}"] for g in ORDER]) * scale
    b = np.concatenate([p[f"b_i{g}"] + p[f"b_h{g}"] for g in ORDER]) * scale[:, 0]
    return W_ih, W_hh, b


def forward(x, h0, c0, W_ih, W_hh, b):
    """Gates (rows of [i f o g] after their activation), cell states, tanh of them, hidden states."""
    T, H = x.shape[0], h0.shape[0]
    acts = x @ W_ih.T
    acts += b
    cs, tanh_c, hs = np.empty((T + 1, H)), np.empty((T, H)), np.empty((T + 1, H))
    hs[0], cs[0] = h0, c0
    W_hh_T, ig = W_hh.T, np.empty(H)
    for t in range(T):
        act = acts[t]
        act += hs[t] @ W_hh_T
        np.tanh(act, out=act)
        sig = act[:3 * H]
        sig += 1.0
        sig *= 0.5
        np.multiply(act[H:2 * H], cs[t], out=cs[t + 1])
        np.multiply(act[:H], act[3 * H:], out=ig)
        cs[t + 1] += ig
        np.tanh(cs[t + 1], out=tanh_c[t])
        np.multiply(act[2 * H:3 * H], tanh_c[t], out=hs[t + 1])
    return acts, cs, tanh_c, hs


def backward_factors(acts, cs, tanh_c, H):
    """For all steps at once: dc_t = dh_t * k_t + dc_{t+1} * f_{t+1}, and the gate pre-activation
    adjoints da = [dc, dc, dh, dc] * m (m per gate: g i(1-i), c_{t-1} f(1-f), tanh(c) o(1-o), i (1-g^2))."""
    i, f, o, g = (acts[:, k * H:(k + 1) * H] for k in range(4))
    k = 1.0 - tanh_c * tanh_c
    k *= o
    m = np.empty_like(acts)
    m[:, :3 * H] = acts[:, :3 * H] * (1.0 - acts[:, :3 * H])
    m[:, :H] *= g
    m[:, H:2 * H] *= cs[:-1]
    m[:, 2 * H:3 * H] *= tanh_c
    np.multiply(g, g, out=m[:, 3 * H:])
    np.subtract(1.0, m[:, 3 * H:], out=m[:, 3 * H:])
    m[:, 3 * H:] *= i
    return k, m, f


def grad(x, y, h0, c0, W_hy, b_y, **p):
    W_ih, W_hh, b = stacked(p)
    T, H = x.shape[0], h0.shape[0]
    acts, cs, tanh_c, hs = forward(x, h0, c0, W_ih, W_hh, b)
    dy = hs[1:] @ W_hy.T
    dy += b_y
    dy -= y
    dh = dy @ W_hy  # dL/dh_t from the output; the recurrent part is added in the loop
    k, m, f = backward_factors(acts, cs, tanh_c, H)
    W_hh_true = W_hh / np.repeat([0.5, 0.5, 0.5, 1.0], H)[:, None]
    da, dc = np.empty((T, 4 * H)), np.zeros(H)
    for t in range(T - 1, -1, -1):
        row = dh[t]
        if t < T - 1:
            row += da[t + 1] @ W_hh_true
            dc *= f[t + 1]
        dc += row * k[t]
        gates = da[t]
        np.multiply(m[t, :2 * H].reshape(2, H), dc, out=gates[:2 * H].reshape(2, H))
        np.multiply(m[t, 2 * H:3 * H], row, out=gates[2 * H:3 * H])
        np.multiply(m[t, 3 * H:], dc, out=gates[3 * H:])
    dW_ih, dW_hh, db = da.T @ x, da.T @ hs[:-1], da.sum(0)
    out = {"W_hy": dy.T @ hs[1:], "b_y": dy.sum(0), "h0": da[0] @ W_hh_true, "c0": dc * f[0],
           "x": da @ (W_ih / np.repeat([0.5, 0.5, 0.5, 1.0], H)[:, None]), "y": -dy}
    for k_, gate in enumerate(ORDER):
        rows = slice(k_ * H, (k_ + 1) * H)
        out.update({f"W_i{gate}": dW_ih[rows], f"W_h{gate}": dW_hh[rows],
                    f"b_i{gate}": db[rows], f"b_h{gate}": db[rows]})
    return out
