"""Index-level models a user types, built through the public API (``sd.tensor``, ``sd.Contract``, ...) or
written in LaTeX, shared by the tests of tests/index/test_user_*.py."""
import sympy as sp

import symderive as sd
from symderive.index import output_size

C, H, V, K, F, N = sd.index_sizes("C H V K F N")  # F output channels
c, o, i, j, p, q, r, s = sd.indices("c o i j p q r s")

#: The depthwise convolution of the issue, typed in LaTeX (stride 2, padding 1), with the output ranges declared.
DEPTHWISE_LATEX = [r"Y_{c,i,j} = \sum_{p,q} W_{c,p,q} X_{c, 2i+p-1, 2j+q-1} + b_c",
                   r"L = \sum_{c,i,j} G_{c,i,j} Y_{c,i,j}"]
DEPTHWISE_SHAPES = ["X: C x H x V", "W: C x K x K", "b: C"]
DEPTHWISE_RANGES = ["i: 0..M-1", "j: 0..N-1", "p: 0..K-1", "q: 0..K-1"]


def depthwise(stride=2, padding=1) -> sd.IndexProgram:
    """``Y[c,i,j] = sum_{p,q} W[c,p,q] X[c, S i + p - P, S j + q - P] + b[c]``, ``L = sum G Y``; the output
    sizes are expressions (derived in the exported module)."""
    out_h, out_w = output_size(H, K, stride, padding), output_size(V, K, stride, padding)
    X, W, b = sd.tensor("X", "C x H x V"), sd.tensor("W", "C x K x K"), sd.tensor("b", "C")
    Y, G, L = sd.Tensor("Y", (C, out_h, out_w)), sd.Tensor("G", (C, out_h, out_w)), sd.tensor("L", "")
    read = X[c, stride * i + p - padding, stride * j + q - padding]
    conv = sd.Contract(Y, (c, i, j), (sd.Term((W[c, p, q], read), sums=((p, K), (q, K))), sd.Term((b[c],))))
    loss = sd.Contract(L, (), (sd.Term((G[c, i, j], Y[c, i, j]), sums=((c, C), (i, out_h), (j, out_w))),))
    return sd.IndexProgram("depthwise", (conv, loss), (X, W, b, G), L)


def dilated_sigmoid(dilation=2) -> sd.IndexProgram:
    """``z[o,i] = sum_{c,p} w[o,c,p] x[c, i + D p]``, ``h = sigmoid(z)``, ``L = sum G h``."""
    out = output_size(N, K, 1, 0, dilation)
    x, w = sd.tensor("x", "C x N"), sd.tensor("w", "F x C x K")
    z, h, G = (sd.Tensor(n, (F, out)) for n in ("z", "h", "G"))
    L = sd.tensor("L", "")
    conv = sd.Contract(z, (o, i), (sd.Term((w[o, c, p], x[c, i + dilation * p]), sums=((c, C), (p, K))),))
    loss = sd.Contract(L, (), (sd.Term((G[o, i], h[o, i]), sums=((o, F), (i, out))),))
    return sd.IndexProgram("dilated", (conv, sd.Pointwise(h, z, "sigmoid", (o, i)), loss), (x, w, G), L)


def conv_avgpool() -> sd.IndexProgram:
    """A convolution (padding 1) followed by 2 x 2 average pooling with stride 2."""
    conv_h = output_size(H, K, 1, 1)
    pool_h = output_size(conv_h, 2, 2)
    X, W = sd.tensor("X", "C x H x H"), sd.tensor("W", "F x C x K x K")
    Y, Z, G, L = sd.Tensor("Y", (F, conv_h, conv_h)), sd.Tensor("Z", (F, pool_h, pool_h)), \
        sd.Tensor("G", (F, pool_h, pool_h)), sd.tensor("L", "")
    conv = sd.Contract(Y, (o, i, j), (sd.Term((W[o, c, p, q], X[c, i + p - 1, j + q - 1]),
                                              sums=((c, C), (p, K), (q, K))),))
    pool = sd.Contract(Z, (o, i, j), (sd.Term((Y[o, 2 * i + r, 2 * j + s],), sp.Rational(1, 4), ((r, 2), (s, 2))),))
    loss = sd.Contract(L, (), (sd.Term((G[o, i, j], Z[o, i, j]), sums=((o, F), (i, pool_h), (j, pool_h))),))
    return sd.IndexProgram("convpool", (conv, pool, loss), (X, W, G), L)


#: The notes' formula, as a student types it.
NOTES_LATEX = [r"h_i = \sigma\left(\sum_{j=1}^{k} V_j x_{i+j-1}\right)", r"L = \sum_{i=1}^{m} h_i"]


def strided_symbolic():
    """A depthwise 1-D convolution with the stride S and padding P as symbols (keyword options of the export,
    defaults 1 and 0) and the loss ``L = 1/2 sum y^2`` (y read twice)."""
    S, P = sp.Symbol("S", integer=True, positive=True), sp.Symbol("P", integer=True, nonnegative=True)
    n_out = output_size(H, K, S, P)
    x, w, y, L = sd.tensor("x", "C x H"), sd.tensor("w", "C x K"), sd.Tensor("y", (C, n_out)), sd.tensor("L", "")
    conv = sd.Contract(y, (c, i), (sd.Term((w[c, p], x[c, S * i + p - P]), sums=((p, K),)),))
    loss = sd.Contract(L, (), (sd.Term((y[c, i], y[c, i]), sp.Rational(1, 2), ((c, C), (i, n_out))),))
    return sd.IndexProgram("strided", (conv, loss), (x, w), L, options=((S, 1), (P, 0)))
