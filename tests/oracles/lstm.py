"""An LSTM in PyTorch's documented equations and gate order (i, f, g, o), written one step and one gate at a time
as an oracle for the tests:

    i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)       o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t * c_{t-1} + i_t * g_t,    h_t = o_t * tanh(c_t),    yhat_t = W_hy h_t + b_y,
    L = sum_t 1/2 ||yhat_t - y_t||^2,   h_0 and c_0 given.

The gradient runs the two adjoint recurrences backwards, dh_t = dL/dh_t and dc_t = dL/dc_t, with da_{k,t} the
adjoint of gate k's pre-activation at step t (sigma' = v (1 - v), tanh' = 1 - v^2 through the gate's value v):

    dh_t = W_hy^T (yhat_t - y_t) + sum_k W_hk^T da_{k,t+1},
    dc_t = dc_{t+1} * f_{t+1} + dh_t * o_t * (1 - tanh(c_t)^2),
    da_{i,t} = dc_t * g_t * i_t',   da_{f,t} = dc_t * c_{t-1} * f_t',   da_{g,t} = dc_t * i_t * g_t',
    da_{o,t} = dh_t * tanh(c_t) * o_t',

and every step adds its outer products da_{k,t} x_t^T and da_{k,t} h_{t-1}^T to the weight gradients.

Arrays are 0-based: ``h[t]`` is h_t (``h[0]`` is h_0), ``x[t - 1]`` and ``y[t - 1]`` belong to step t.
Takes the same keyword arguments as the exported module.
"""
import numpy as np

GATES = "ifgo"


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


#: each gate's activation, and its derivative written through the activation's value v
ACTIVATION = {"i": sigmoid, "f": sigmoid, "g": np.tanh, "o": sigmoid}
SLOPE = {"i": lambda v: v * (1 - v), "f": lambda v: v * (1 - v), "g": lambda v: 1 - v * v, "o": lambda v: v * (1 - v)}


def forward(x, h0, c0, W_hy, b_y, **w):
    """The states h_0..h_T and c_0..c_T, each gate's values at steps 1..T, and the outputs yhat_1..yhat_T."""
    h, c, gate = [h0], [c0], {k: [] for k in GATES}
    for x_t in x:
        for k in GATES:
            a = w[f"W_i{k}"] @ x_t + w[f"b_i{k}"] + w[f"W_h{k}"] @ h[-1] + w[f"b_h{k}"]
            gate[k].append(ACTIVATION[k](a))
        c.append(gate["f"][-1] * c[-1] + gate["i"][-1] * gate["g"][-1])
        h.append(gate["o"][-1] * np.tanh(c[-1]))
    yhat = [W_hy @ h_t + b_y for h_t in h[1:]]
    return np.array(h), np.array(c), {k: np.array(v) for k, v in gate.items()}, np.array(yhat)


def grad(x, y, h0, c0, W_hy, b_y, **w):
    """dL/d(every argument) by full BPTT, one step and one gate at a time."""
    h, c, gate, yhat = forward(x, h0, c0, W_hy, b_y, **w)
    g = {name: np.zeros_like(value, dtype=float) for name, value in dict(w, x=x, y=y, W_hy=W_hy, b_y=b_y).items()}
    dh_later, dc_later = np.zeros_like(h0), np.zeros_like(c0)  # the shares that come from step t+1
    for t in range(len(x), 0, -1):
        residual = yhat[t - 1] - y[t - 1]
        g["W_hy"] += np.outer(residual, h[t])
        g["b_y"] += residual
        g["y"][t - 1] = -residual
        dh = W_hy.T @ residual + dh_later
        dc = dc_later + dh * gate["o"][t - 1] * (1 - np.tanh(c[t]) ** 2)
        value = {"i": dc * gate["g"][t - 1], "f": dc * c[t - 1], "g": dc * gate["i"][t - 1], "o": dh * np.tanh(c[t])}
        dh_later = np.zeros_like(h0)
        for k in GATES:
            da = value[k] * SLOPE[k](gate[k][t - 1])
            add_gate_shares(g, k, da, x[t - 1], h[t - 1])
            g["x"][t - 1] += w[f"W_i{k}"].T @ da
            dh_later += w[f"W_h{k}"].T @ da
        dc_later = dc * gate["f"][t - 1]
    return dict(g, h0=dh_later, c0=dc_later)


def add_gate_shares(g, k, da, x_t, h_prev):
    """Add step t's shares to the gradients of gate k's weights and biases, da being its pre-activation's adjoint."""
    g[f"W_i{k}"] += np.outer(da, x_t)
    g[f"W_h{k}"] += np.outer(da, h_prev)
    g[f"b_i{k}"] += da
    g[f"b_h{k}"] += da
