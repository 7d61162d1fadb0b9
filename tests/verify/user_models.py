"""Models a user writes with :class:`symderive.Model`, for the tests of the printed torch program."""
import sympy as sp

import symderive as sd


def sigmoid_rnn() -> sd.Model:
    """h_t = σ(W_hh h_{t-1} + W_xh x_t + b_h), o_t = W_hy h_t + b_y, L = Σ_t ½||o_t - y_t||²."""
    m = sd.Model("sigmoid_rnn")
    n, d, q = m.sizes("n d q")
    W_hh, W_xh, b_h = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b_h", n)
    W_hy, b_y = m.param("W_hy", q, n), m.param("b_y", q)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h = m.state("h", n)
    z = m.let("z", W_hh @ h.prev + W_xh @ x + b_h)
    m.let(h, sd.sigmoid(z))
    o = m.let("o", W_hy @ h + b_y)
    m.loss(sd.squared_norm(o - y) / 2)
    return m


def two_state() -> sd.Model:
    """Two states read at t-1: f_t = σ(V h_{t-1} + U x_t), c_t = f_t ⊙ c_{t-1} + tanh(W h_{t-1} + R c_{t-1}),
    h_t = tanh(c_t) ⊙ (1 - f_t), L = Σ_t ½||h_t - y_t||²."""
    m = sd.Model("two_state")
    n, d = m.sizes("n d")
    W, U, V, R = m.param("W", n, n), m.param("U", n, d), m.param("V", n, n), m.param("R", n, n)
    x, y = m.sequence("x", d), m.sequence("y", n)
    h, c = m.state("h", n), m.state("c", n)
    f = m.let("f", sd.sigmoid(V @ h.prev + U @ x))
    m.let(c, sd.hadamard(f, c.prev) + sd.tanh(W @ h.prev + R @ c.prev))
    m.let(h, sd.hadamard(sd.tanh(c), sd.ones_like(f) - f))
    m.loss(sd.squared_norm(h - y) / 2)
    return m


def row_rnn() -> sd.Model:
    """Row vectors, as in d2l: H_t = σ(X_t W_X + H_{t-1} W_H + b), O_t = H_t W_Q + c, L = Σ_t ½||O_t - Y_t||²."""
    m = sd.Model("row_rnn")
    n, d, q = m.sizes("n d q")
    W_X, W_H, b = m.param("W_X", d, n), m.param("W_H", n, n), m.param("b", 1, n)
    W_Q, c = m.param("W_Q", n, q), m.param("c", 1, q)
    X, Y = m.sequence("X", 1, d), m.sequence("Y", 1, q)
    H = m.state("H", 1, n)
    m.let(H, sd.sigmoid(X @ W_X + H.prev @ W_H + b))
    output = m.let("O", H @ W_Q + c)
    m.loss(sd.squared_norm(output - Y) / 2)
    return m


def mlp() -> sd.Model:
    """a = softplus(W1 x + b1), o = W2^T a, L = ½||o - y||² + ¼||a||² (a transpose, a sum of two norms)."""
    m = sd.Model("mlp")
    n, d, k = m.sizes("n d k")
    W1, b1, W2 = m.param("W1", n, d), m.param("b1", n), m.param("W2", n, k)
    x, y = m.input("x", d), m.input("y", k)
    a = m.let("a", sd.softplus(W1 @ x + b1))
    o = m.let("o", W2.T @ a)
    m.loss(sd.squared_norm(o - y) / 2 + sd.squared_norm(a) / 4)
    return m


def scalar_neuron() -> sd.Model:
    """Every value 1 x 1: a = σ(w x + b), L = ½ (a - y)^2 (a 1 x 1 matrix loss)."""
    m = sd.Model("scalar_neuron")
    w, b, x, y = m.param("w", 1, 1), m.param("b", 1, 1), m.input("x", 1, 1), m.input("y", 1, 1)
    a = m.let("a", sd.sigmoid(w @ x + b))
    m.loss(sp.HadamardPower(a - y, 2) / 2)
    return m


def scalar_rnn() -> sd.Model:
    """A scalar RNN from h_0 = 0, its loss the mean over steps: h_t = tanh(w h_{t-1} + u x_t),
    L = (1/T) Σ_t ½ (h_t - y_t)²."""
    m = sd.Model("scalar_rnn")
    w, u, x, y = m.param("w"), m.param("u"), m.sequence("x"), m.sequence("y")
    h = m.state("h", initial=0)
    m.let(h, sd.tanh(w @ h.prev + u @ x))
    m.loss((h - y) ** 2 / 2, mean=True)
    return m


USER_MODELS = {f.__name__: f for f in (sigmoid_rnn, two_state, row_rnn, mlp, scalar_neuron, scalar_rnn)}
