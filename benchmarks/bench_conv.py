"""Exported conv2d forward + gradient against a straightforward NumPy im2col implementation and
torch.nn.functional.conv2d autograd (C=16, O=32, H=W=64, K=3, S=1, P=1, float64, one thread).
Prints medians and ratios measured in one run."""
from harness import measure, ratio_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import numpy as np

from symderive import derivation


def im2col_conv(X, W, b, G, P=1):
    """Forward and gradient by im2col: columns of every 3x3 window, one matmul each way."""
    C, H, Wd = X.shape
    C_out, _, K, _ = W.shape
    Xp = np.pad(X, ((0, 0), (P, P), (P, P)))
    OH, OW = H + 2 * P - K + 1, Wd + 2 * P - K + 1
    cols = np.empty((C, K, K, OH, OW))
    for p in range(K):
        for q in range(K):
            cols[:, p, q] = Xp[:, p:p + OH, q:q + OW]
    cols = cols.reshape(C * K * K, OH * OW)
    Y = (W.reshape(C_out, -1) @ cols).reshape(C_out, OH, OW) + b[:, None, None]
    g = G.reshape(C_out, -1)
    dW = (g @ cols.T).reshape(W.shape)
    dcols = (W.reshape(C_out, -1).T @ g).reshape(C, K, K, OH, OW)
    dXp = np.zeros_like(Xp)
    for p in range(K):
        for q in range(K):
            dXp[:, p:p + OH, q:q + OW] += dcols[:, p, q]
    return Y, dXp[:, P:P + H, P:P + Wd], dW, g.sum(axis=1)


def main():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((16, 64, 64)), rng.standard_normal((32, 16, 3, 3)) / 12, rng.standard_normal(32)
    G = rng.standard_normal((32, 64, 64))
    m = derivation("conv2d").load_module()
    got = m.grad(X, W, b, G, padding=1)
    _, dX, dW, db = im2col_conv(X, W, b, G)
    assert np.allclose(got["X"], dX) and np.allclose(got["W"], dW) and np.allclose(got["b"], db)
    fns = {"torch conv2d autograd": None, "exported conv2d grad": lambda: m.grad(X, W, b, G, padding=1),
           "NumPy im2col": lambda: im2col_conv(X, W, b, G)}
    torch = torch_threads()
    if torch is None:
        del fns["torch conv2d autograd"]
    else:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
        tg = torch.tensor(G)

        def torch_step():
            for t in (tx, tw, tb):
                t.grad = None
            (torch.nn.functional.conv2d(tx[None], tw, tb, padding=1)[0] * tg).sum().backward()

        fns["torch conv2d autograd"] = torch_step
    baseline = "torch conv2d autograd" if torch is not None else "NumPy im2col"
    print("conv2d forward + gradient, C=16, O=32, H=W=64, K=3, S=1, P=1, float64, one thread; ratio to", baseline)
    print(ratio_table([("C=16, O=32, H=W=64", measure(fns, rounds=15, per_round=3))], baseline))


if __name__ == "__main__":
    main()
