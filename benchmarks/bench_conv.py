"""Exported conv2d forward + gradient against a straightforward NumPy im2col implementation and
torch.nn.functional.conv2d autograd (C=16, O=32, H=W=64, K=3, S=1, P=1, float64, one thread), for one image
and for a batch of B=8. Prints medians and ratios measured in one run."""
from harness import measure, ratio_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import numpy as np

from symderive import derivation


def im2col_conv(X, W, b, G, P=1):
    """Forward and gradient by im2col: columns of every 3x3 window, one matmul each way. X (C, H, W) or a
    batch (B, C, H, W), G likewise; the columns hold every example (C K K, B OH OW)."""
    batch = X.ndim == 4
    X, G = (X, G) if batch else (X[None], G[None])
    B, C, H, Wd = X.shape
    C_out, _, K, _ = W.shape
    Xp = np.pad(X, ((0, 0), (0, 0), (P, P), (P, P)))
    OH, OW = H + 2 * P - K + 1, Wd + 2 * P - K + 1
    cols = np.empty((C, K, K, B, OH, OW))
    for p in range(K):
        for q in range(K):
            cols[:, p, q] = Xp[:, :, p:p + OH, q:q + OW].transpose(1, 0, 2, 3)
    cols = cols.reshape(C * K * K, B * OH * OW)
    Y = (W.reshape(C_out, -1) @ cols).reshape(C_out, B, OH, OW).transpose(1, 0, 2, 3) + b[:, None, None]
    g = G.transpose(1, 0, 2, 3).reshape(C_out, -1)
    dW = (g @ cols.T).reshape(W.shape)
    dcols = (W.reshape(C_out, -1).T @ g).reshape(C, K, K, B, OH, OW)
    dXp = np.zeros_like(Xp)
    for p in range(K):
        for q in range(K):
            dXp[:, :, p:p + OH, q:q + OW] += dcols[:, p, q].transpose(1, 0, 2, 3)
    dX = dXp[:, :, P:P + H, P:P + Wd]
    return (Y, dX, dW, g.sum(axis=1)) if batch else (Y[0], dX[0], dW, g.sum(axis=1))


def contenders(m, X, W, b, G, torch):
    """The three contenders on one (possibly batched) input, after checking that they agree."""
    got = m.grad(X, W, b, G, padding=1)
    _, dX, dW, db = im2col_conv(X, W, b, G)
    assert np.allclose(got["X"], dX) and np.allclose(got["W"], dW) and np.allclose(got["b"], db)
    fns = {"torch conv2d autograd": None, "exported conv2d grad": lambda: m.grad(X, W, b, G, padding=1),
           "NumPy im2col": lambda: im2col_conv(X, W, b, G)}
    if torch is None:
        del fns["torch conv2d autograd"]
        return fns
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    tg = torch.tensor(G)

    def torch_step():
        for t in (tx, tw, tb):
            t.grad = None
        y = torch.nn.functional.conv2d(tx if X.ndim == 4 else tx[None], tw, tb, padding=1)
        ((y if X.ndim == 4 else y[0]) * tg).sum().backward()

    fns["torch conv2d autograd"] = torch_step
    return fns


def main():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((16, 64, 64)), rng.standard_normal((32, 16, 3, 3)) / 12, rng.standard_normal(32)
    G = rng.standard_normal((32, 64, 64))
    XB, GB = rng.standard_normal((8, 16, 64, 64)), rng.standard_normal((8, 32, 64, 64))
    m = derivation("conv2d").load_module()
    torch = torch_threads()
    baseline = "torch conv2d autograd" if torch is not None else "NumPy im2col"
    print("conv2d forward + gradient, C=16, O=32, H=W=64, K=3, S=1, P=1, float64, one thread; ratio to", baseline)
    print(ratio_table([("C=16, O=32, H=W=64", measure(contenders(m, X, W, b, G, torch), rounds=15, per_round=3)),
                       ("B=8", measure(contenders(m, XB, W, b, GB, torch), rounds=5, per_round=1))], baseline))


if __name__ == "__main__":
    main()
