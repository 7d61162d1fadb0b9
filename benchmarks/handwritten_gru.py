"""A hand-written vectorized NumPy GRU BPTT (PyTorch's equations), as careful as we could make it: the
benchmark's baseline and an independent oracle for the tests. Takes the same arguments as the export.

    r, z = sigmoid(W_i[r,z] x + b_i[r,z] + W_h[r,z] h_{t-1} + b_h[r,z])
    n = tanh(W_in x + b_in + r * (W_hn h_{t-1} + b_hn)),   h_t = (1 - z) n + z h_{t-1}

What makes it careful:
* the gates are stacked (r, z, n) and the input products of every step are one matrix product before the
  loop: one product per step each way;
* the sigmoid gates' rows are scaled by 1/2 once, so that ``sigmoid(a) = (1 + tanh(a/2)) / 2`` is one tanh
  and two in-place updates;
* every gate adjoint is ``dh_t`` times a factor that needs no recurrence (``(1 - z)(1 - n^2)`` and so on),
  computed for all steps at once before the loop: a backward step is one product and three in-place updates.
"""
import numpy as np

GATES = "rzn"


def stacked(p: dict):
    """(W_i, W_h, b_i, b_hn): the gates stacked r, z, n; b_i holds b_i + b_h for r and z (b_hn stays inside
    r * (...)); the sigmoid rows of W_i, W_h and b_i scaled by 1/2."""
    H = p["W_hr"].shape[0]
    scale = np.repeat([0.5, 0.5, 1.0], H)
    W_i = np.concatenate([p[f"W_i{g}"] for g in GATES]) * scale[:, None]
    W_h = np.concatenate([p[f"W_h{g}"] for g in GATES]) * scale[:, None]
    b_i = np.concatenate([p["b_ir"] + p["b_hr"], p["b_iz"] + p["b_hz"], p["b_in"]]) * scale
    return W_i, W_h, b_i, p["b_hn"]


def forward(x, h0, W_i, W_h, b_i, b_hn):
    """Rows of [r z n] after their activation, W_hn h_{t-1} + b_hn, and the hidden states h_0..h_T."""
    T, H = x.shape[0], h0.shape[0]
    gates = x @ W_i.T
    gates += b_i
    hn, hs = np.empty((T, H)), np.empty((T + 1, H))
    hs[0] = h0
    W_h_T, gh = W_h.T, np.empty(3 * H)
    for t in range(T):
        np.matmul(hs[t], W_h_T, out=gh)
        row = gates[t]
        rz = row[:2 * H]
        rz += gh[:2 * H]
        np.tanh(rz, out=rz)
        rz += 1.0
        rz *= 0.5
        np.add(gh[2 * H:], b_hn, out=hn[t])
        n = row[2 * H:]
        n += row[:H] * hn[t]
        np.tanh(n, out=n)
        np.subtract(hs[t], n, out=hs[t + 1])  # h = n + z (h_{t-1} - n)
        hs[t + 1] *= row[H:2 * H]
        hs[t + 1] += n
    return gates, hn, hs


def factors(gates, hn, hs, H):
    """For all steps: the gate adjoints are dh_t times m_t, rows [r z n] for the recurrent product (the n part
    of W_hn h_{t-1} + b_hn is da_n r) and the input side's n part (da_n itself)."""
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    a = (1.0 - z) * (1.0 - n * n)  # da_n = dh a
    m = np.empty_like(gates)
    np.multiply(a * hn, r * (1.0 - r), out=m[:, :H])  # da_r = da_n hn r (1 - r)
    np.multiply(hs[:-1] - n, z * (1.0 - z), out=m[:, H:2 * H])  # da_z = dh (h_{t-1} - n) z (1 - z)
    np.multiply(a, r, out=m[:, 2 * H:])
    return m, a


def grad(x, y, h0, W_hy, b_y, **p):
    W_i, W_h, b_i, b_hn = stacked(p)
    T, H = x.shape[0], h0.shape[0]
    gates, hn, hs = forward(x, h0, W_i, W_h, b_i, b_hn)
    dy = hs[1:] @ W_hy.T
    dy += b_y
    dy -= y
    dh = dy @ W_hy  # dL/dh_t from the output; the recurrent part is added in the loop
    m, a = factors(gates, hn, hs, H)
    z = gates[:, H:2 * H]
    W_h_true = W_h / np.repeat([0.5, 0.5, 1.0], H)[:, None]
    dgh = np.empty((T, 3 * H))
    for t in range(T - 1, -1, -1):
        row = dh[t]
        if t < T - 1:
            row += dgh[t + 1] @ W_h_true
            row += dh[t + 1] * z[t + 1]
        np.multiply(m[t].reshape(3, H), row, out=dgh[t].reshape(3, H))
    dgi = dgh.copy()
    np.multiply(a, dh, out=dgi[:, 2 * H:])
    return gradients(dgi, dgh, dh, dy, x, hs, z, W_i, W_h_true, W_hy, H)


def gradients(dgi, dgh, dh, dy, x, hs, z, W_i, W_h_true, W_hy, H):
    """Every gradient from the gate adjoints of the input side (dgi) and of the recurrent product (dgh)."""
    dW_i, dW_h, db_i, db_h = dgi.T @ x, dgh.T @ hs[:-1], dgi.sum(0), dgh.sum(0)
    out = {"W_hy": dy.T @ hs[1:], "b_y": dy.sum(0), "h0": dgh[0] @ W_h_true + dh[0] * z[0],
           "x": dgi @ (W_i / np.repeat([0.5, 0.5, 1.0], H)[:, None]), "y": -dy}
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        out.update({f"W_i{gate}": dW_i[rows], f"W_h{gate}": dW_h[rows], f"b_i{gate}": db_i[rows],
                    f"b_h{gate}": db_h[rows]})
    return out
