"""JAX references for the recurrent exports (RNN, LSTM, GRU): the same models, the same loss and the same argument
names as ``symderive export rnn|lstm|gru``, written as a careful JAX user writes them, for the benchmarks.

Each is ``jax.jit(jax.value_and_grad(loss))`` over ``lax.scan``, in float64, with the input products of every
step computed before the scan (one product), the gates stacked so that a step is one product with the
recurrent weights, and the states carried in rows (``h @ W^T``), so that one code serves one sequence,
``x`` (T, d), and a minibatch, ``x`` (B, T, d) with ``h0`` (n,) shared or (B, n):

    RNN   h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)
    LSTM  [i f g o]_t = W_h* h_{t-1} + W_i* x_t + b_h* + b_i*,  c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),
          h_t = σ(o) ⊙ tanh(c_t)                                        (PyTorch's gate order i, f, g, o)
    GRU   r_t = σ(W_hr h + W_ir x + b_hr + b_ir),  z_t = σ(W_hz h + W_iz x + b_hz + b_iz),
          n_t = tanh(W_in x + b_in + r_t ⊙ (W_hn h + b_hn)),  h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    output  ŷ_t = W_hy h_t + b_y,   L = Σ_(examples) Σ_t 1/2 ||ŷ_t - y_t||²

The gradient is taken with respect to every argument (as the export's ``grad`` returns it). Importing this
module needs JAX; ``harness.jax_call`` gives no contender when it is not installed.
"""
import time

import jax
import jax.numpy as jnp
from jax import lax

jax.config.update("jax_enable_x64", True)

LSTM_GATES, GRU_GATES = "ifgo", "rzn"


def rnn_states(a, inputs, h0):
    """Hidden states h_1..h_T (time-major) from the inputs x_t (time-major)."""
    pre = inputs @ a["W_xh"].T + a["b_h"]

    def step(h, pre_t):
        h = jnp.tanh(pre_t + h @ a["W_hh"].T)
        return h, h

    return lax.scan(step, h0, pre)[1]


def lstm_states(a, inputs, h0):
    """Hidden states of the LSTM, the four gates stacked: one product with [W_hi; W_hf; W_hg; W_ho] per step."""
    W_i = jnp.concatenate([a[f"W_i{g}"] for g in LSTM_GATES])
    W_h = jnp.concatenate([a[f"W_h{g}"] for g in LSTM_GATES])
    pre = inputs @ W_i.T + jnp.concatenate([a[f"b_i{g}"] + a[f"b_h{g}"] for g in LSTM_GATES])

    def step(carry, pre_t):
        h, c = carry
        i, f, g, o = jnp.split(pre_t + h @ W_h.T, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    return lax.scan(step, (h0, jnp.broadcast_to(a["c0"], h0.shape)), pre)[1]


def gru_states(a, inputs, h0):
    """Hidden states of the GRU, the three gates stacked on each side (b_hn stays inside r ⊙ (...))."""
    W_i = jnp.concatenate([a[f"W_i{g}"] for g in GRU_GATES])
    W_h = jnp.concatenate([a[f"W_h{g}"] for g in GRU_GATES])
    b_h = jnp.concatenate([a[f"b_h{g}"] for g in GRU_GATES])
    pre = inputs @ W_i.T + jnp.concatenate([a[f"b_i{g}"] for g in GRU_GATES])

    def step(h, pre_t):
        x_r, x_z, x_n = jnp.split(pre_t, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(h @ W_h.T + b_h, 3, axis=-1)
        r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        h = (1.0 - z) * n + z * h
        return h, h

    return lax.scan(step, h0, pre)[1]


STATES = {"rnn": rnn_states, "lstm": lstm_states, "gru": gru_states}


def loss(name: str, a: dict):
    """L = Σ 1/2 ||W_hy h_t + b_y - y_t||² over the steps (and the examples of a minibatch)."""
    x, y = a["x"], a["y"]
    if x.ndim == 3:  # (B, T, .) -> time-major (T, B, .) for the scan
        x, y = jnp.swapaxes(x, 0, 1), jnp.swapaxes(y, 0, 1)
    h0 = jnp.broadcast_to(a["h0"], (*x.shape[1:-1], a["h0"].shape[-1]))
    hs = STATES[name](a, x, h0)
    return 0.5 * jnp.sum((hs @ a["W_hy"].T + a["b_y"] - y) ** 2)


def compiled(name: str, arrays: dict):
    """(loss and gradient function of the device arrays, those arrays, compile seconds): jit compiled once."""
    fn = jax.jit(jax.value_and_grad(lambda a: loss(name, a)))
    device = {k: jnp.asarray(v) for k, v in arrays.items()}
    start = time.perf_counter()
    jax.block_until_ready(fn(device))
    return fn, device, time.perf_counter() - start


def grad(name: str, arrays: dict) -> dict:
    """dL/d(argument) for every argument, as NumPy arrays (for the tests)."""
    import numpy as np

    fn, device, _ = compiled(name, arrays)
    return {k: np.asarray(v) for k, v in fn(device)[1].items()}


def timed_call(name: str, arrays: dict):
    """A call to time (loss and every gradient, waited for), with the compile time as ``compile_seconds``."""
    fn, device, seconds = compiled(name, arrays)

    def call():
        return jax.block_until_ready(fn(device))

    call.compile_seconds = seconds
    return call
