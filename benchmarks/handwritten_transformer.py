r"""A hand-written float64 NumPy pre-norm Transformer encoder block, forward and every gradient, as a careful
implementation writes it: the benchmark's baseline and an independent oracle for the tests. Takes the arguments
of the exported ``transformer`` module (PyTorch's orientation, rows are tokens):

    A = LN_1(X),  Q = A W_q^T + b_q,  K = A W_k^T + b_k,  V = A W_v^T + b_v   (one fused GEMM)
    per head h:  P_h = softmax_row(Q_h K_h^T / sqrt(d_h)),  O_h = P_h V_h     (heads: a reshaped axis)
    Y = X + O W_o^T + b_o,   B = LN_2(Y),   Z = Y + relu(B W_1^T + b_1) W_2^T + b_2,   L = sum(G * Z)

The backward pass uses the compact forms: dS = P * (dP - rowsum(dO * O)) (FlashAttention's precompute, N x d_h
instead of N x N), and LayerNorm's dx = (dx^ - mean(dx^) - x^ * mean(dx^ * x^)) / sqrt(var + eps).
"""
import numpy as np


def layer_norm(x, gamma, beta, eps):
    """(y, x^, 1/sqrt(var + eps)) of each row."""
    centred = x - x.mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt(np.mean(centred * centred, axis=1, keepdims=True) + eps)
    xhat = centred * rstd
    return xhat * gamma + beta, xhat, rstd


def layer_norm_backward(dy, gamma, xhat, rstd):
    """(dx, dgamma, dbeta) of y = gamma * x^ + beta."""
    dxhat = dy * gamma
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * np.mean(dxhat * xhat, axis=1, keepdims=True)) * rstd
    return dx, np.sum(dy * xhat, axis=0), dy.sum(axis=0)


def split_heads(m, heads):
    """(N, heads * d_h) -> (heads, N, d_h)."""
    n, width = m.shape
    return m.reshape(n, heads, width // heads).transpose(1, 0, 2)


def merge_heads(m):
    """(heads, N, d_h) -> (N, heads * d_h)."""
    heads, n, dh = m.shape
    return m.transpose(1, 0, 2).reshape(n, heads * dh)


def attention_forward(A, W_in, b_in, heads, causal):
    """(Q, K, V, P, O) per head, Q already scaled by 1/sqrt(d_h)."""
    D = A.shape[1]
    qkv = A @ W_in.T + b_in
    q, k, v = (split_heads(qkv[:, i * D:(i + 1) * D], heads) for i in range(3))
    q *= 1.0 / np.sqrt(D // heads)
    s = q @ k.transpose(0, 2, 1)
    if causal:
        s[:, np.triu(np.ones(s.shape[1:], dtype=bool), 1)] = -np.inf
    s -= s.max(axis=2, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=2, keepdims=True)
    return q, k, v, s, s @ v


def attention_backward(dO, q, k, v, p, o):
    """dQKV (N, 3D) of the fused projection, from dO (heads, N, d_h)."""
    scale = 1.0 / np.sqrt(q.shape[2])
    dv = p.transpose(0, 2, 1) @ dO
    ds = dO @ v.transpose(0, 2, 1)
    ds -= np.sum(dO * o, axis=2, keepdims=True)
    ds *= p
    dq = (ds @ k) * scale
    dk = ds.transpose(0, 2, 1) @ q  # q holds the scale already
    return np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=1)


def grad(X, G, gamma_1, beta_1, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, gamma_2, beta_2, W_1, b_1, W_2, b_2,
         *, heads, eps=1e-5, causal=False):
    """dL/d(argument) for every argument, L = sum(G * Z)."""
    W_in, b_in = np.concatenate([W_q, W_k, W_v]), np.concatenate([b_q, b_k, b_v])
    A, xhat1, rstd1 = layer_norm(X, gamma_1, beta_1, eps)
    q, k, v, p, o = attention_forward(A, W_in, b_in, heads, causal)
    merged = merge_heads(o)
    Y = X + merged @ W_o.T + b_o
    B, yhat2, rstd2 = layer_norm(Y, gamma_2, beta_2, eps)
    H = B @ W_1.T + b_1
    R = np.maximum(H, 0.0)
    Z = Y + R @ W_2.T + b_2
    dH = G @ W_2
    dH *= H > 0
    dB = dH @ W_1
    dY_ln, dgamma_2, dbeta_2 = layer_norm_backward(dB, gamma_2, yhat2, rstd2)
    dY = G + dY_ln
    dqkv = attention_backward(split_heads(dY @ W_o, heads), q, k, v, p, o)
    dX_ln, dgamma_1, dbeta_1 = layer_norm_backward(dqkv @ W_in, gamma_1, xhat1, rstd1)
    dW_in, db_in = dqkv.T @ A, dqkv.sum(axis=0)
    D = X.shape[1]
    return {"X": dY + dX_ln, "G": Z, "gamma_1": dgamma_1, "beta_1": dbeta_1,
            "W_q": dW_in[:D], "W_k": dW_in[D:2 * D], "W_v": dW_in[2 * D:], "W_o": dY.T @ merged,
            "b_q": db_in[:D], "b_k": db_in[D:2 * D], "b_v": db_in[2 * D:], "b_o": dY.sum(axis=0),
            "gamma_2": dgamma_2, "beta_2": dbeta_2, "W_1": dH.T @ B, "b_1": dH.sum(axis=0),
            "W_2": G.T @ R, "b_2": G.sum(axis=0)}
