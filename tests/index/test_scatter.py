"""The export's col2im: a windowed read's gradient as a scatter (``affine_scatter``), and the im2col
columns copied once for the forward product and the weight gradient (``contraction``'s cache)."""
import itertools
import sys

import numpy as np
import pytest

from derivations.convolution import C, conv_derived, conv_options, spatial
from symderive import derivation
from symderive.index.codegen import module_source
from symderive.index.derive import derive
from symderive.index.kernels import affine_einsum, affine_scatter, affine_view, contraction, plain_read, zero_padded
from symderive.index.program import Contract, IndexProgram, Tensor, Term, index_symbols
from tests.export.cases import first_case, module


def scatter_by_loops(shape, axes, out, ranges, values):
    """A[e(v)] += values[v] one position at a time, positions outside A dropped."""
    result = np.zeros(shape)
    for point in itertools.product(*(range(ranges[v]) for v in out)):
        at = dict(zip(out, point))
        index = [index.get("", 0) + sum(c * at[v] for v, c in index.items() if v) for index in axes]
        if all(0 <= k < n for k, n in zip(index, shape)):
            result[tuple(index)] += values[point]
    return result


@pytest.mark.parametrize("axes,ranges", [
    ([{"c": 1}, {"i": 2, "p": 2, "": -1}], {"c": 3, "i": 4, "p": 3}),  # stride 2, dilation 2, padding 1
    ([{"i": 1, "p": -1, "": 2}, {"j": 1, "q": 1}], {"i": 5, "p": 3, "j": 3, "q": 4}),  # a flipped tap, K > out
    ([{"i": 3, "p": 1}, {"i": 1}], {"i": 3, "p": 2}),  # one variable on two axes
    ([{"i": -1, "p": 1, "": 4}, {"j": 2, "": -1}], {"i": 5, "p": 2, "j": 4}),  # slices walked backwards, to index 0
])
def test_scatter_adds_each_value_where_the_read_took_it(axes, ranges):
    rng = np.random.default_rng(1)
    shape = (4, 7)
    out = "".join(v for index in axes for v in index if v and v in ranges)
    out = "".join(dict.fromkeys(out))
    values = rng.standard_normal([ranges[v] for v in out])
    got = affine_scatter(shape, axes, out, ranges, (values, [{v: 1} for v in out]))
    np.testing.assert_allclose(got, scatter_by_loops(shape, axes, out, ranges, values), rtol=1e-13, atol=1e-13)


def test_the_weight_gradient_reuses_the_forward_columns():
    rng = np.random.default_rng(2)
    X, W, G = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 4, 4))
    ranges = {"a": 2, "o": 4, "c": 3, "i": 4, "j": 4, "p": 3, "q": 3}
    window = [{"a": 1}, {"c": 1}, {"i": 1, "p": 1}, {"j": 1, "q": 1}]
    g, w = (G, [{"a": 1}, {"o": 1}, {"i": 1}, {"j": 1}]), (W, [{"o": 1}, {"c": 1}, {"p": 1}, {"q": 1}])
    cache = {}
    Y = affine_einsum("aoij", ranges, w, (X, window), cache=cache)
    (key, (columns, _)), = cache.items()  # the columns of X (im2col)
    dW = contraction("ocpq", ranges, (g, (X, window)), cache)
    assert cache[key][0] is columns  # read again, not copied again: the one other copy is G's, in (o, a i j) order
    assert [k[0] for k in cache if k != key] == [id(G)]
    view = affine_view(X, window, "acipjq", ranges)
    np.testing.assert_allclose(Y, np.einsum("ocpq,acipjq->aoij", W, view), rtol=1e-12)
    np.testing.assert_allclose(dW, np.einsum("aoij,acipjq->ocpq", G, view), rtol=1e-12)


def depthwise_program():
    """Y[c,i,j] = sum_{p,q} W[c,p,q] X[c, S_h i + D_h p - P_h, S_w j + D_w q - P_w]; L = sum G Y."""
    axes = spatial(2)
    (h, kh, sh, ph, dh, oh, i, p), (wd, kw, sw, pw, dw, ow, j, q) = axes
    c = index_symbols("c")[0]
    X, W, G = Tensor("X", (C, h, wd)), Tensor("W", (C, kh, kw)), Tensor("G", (C, oh, ow))
    Y, L = Tensor("Y", (C, oh, ow)), Tensor("L", ())
    conv = Contract(Y, (c, i, j), (Term((W[c, p, q], X[c, sh * i + dh * p - ph, sw * j + dw * q - pw]),
                                        sums=((p, kh), (q, kw))),))
    loss = Contract(L, (), (Term((G[c, i, j], Y[c, i, j]), sums=((c, C), (i, oh), (j, ow))),))
    return IndexProgram("depthwise", (conv, loss), (X, W, G), L), axes


def test_a_depthwise_convolution_exports_a_scatter_that_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    program, axes = depthwise_program()
    shapes = {"X": ("C", "H_in", "W_in"), "W": ("C", "K_h", "K_w"), "G": ("C", "H_out", "W_out")}
    source = module_source([("depthwise", program, derive(program))], "depthwise", conv_options(axes),
                           conv_derived(axes), shapes)
    assert "affine_scatter(" in source and "dilate({" not in source.split("def _backward")[1]
    (tmp_path / "depthwise_export.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        import depthwise_export as m
    finally:
        sys.path.remove(str(tmp_path))
    rng = np.random.default_rng(3)
    X, W = rng.standard_normal((4, 3, 9, 8)), rng.standard_normal((3, 2, 3))
    x, w = torch.tensor(X, requires_grad=True), torch.tensor(W, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w[:, None], stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=3)
    G = rng.standard_normal(tuple(y.shape))
    (y * torch.tensor(G)).sum().backward()
    got = m.grad(X, W, G, stride=(2, 1), padding=(1, 2), dilation=(2, 1))
    np.testing.assert_allclose(got["X"], x.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["W"], w.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["G"], y.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_a_converted_array_is_not_kept():
    # An argument that is not a float64 array is converted to a new array, which may die and leave its id
    # to another: its copy must not be found again by id.
    X, W = np.arange(2 * 6).reshape(2, 6), np.ones((3, 2, 2))
    cache = {}
    Y = affine_einsum("oi", {"o": 3, "c": 2, "i": 5, "p": 2}, (W, [{"o": 1}, {"c": 1}, {"p": 1}]),
                      (X, [{"c": 1}, {"i": 1, "p": 1}]), cache=cache)
    assert cache == {}  # (W is read as it is: no copy of it either)
    expected = (X[:, :5] + X[:, 1:]).sum(axis=0)  # Y[o, i] = sum_c (X[c, i] + X[c, i + 1])
    np.testing.assert_array_equal(Y, np.stack([expected] * 3))


def test_zero_padding_matches_numpy_pad():
    A = np.random.default_rng(4).standard_normal((2, 3, 4))
    pads = [(0, 1), (2, 0), (1, 3)]
    np.testing.assert_array_equal(zero_padded(A, pads), np.pad(A, pads))


def test_a_plain_read_is_the_array_itself_and_a_partial_read_is_not():
    A = np.zeros((2, 3))
    assert plain_read(A.shape, [{"a": 1}, {"b": 1}], "ab", {"a": 2, "b": 3})
    assert affine_view(A, [{"a": 1}, {"b": 1}], "ab", {"a": 2, "b": 3}) is A
    assert not plain_read(A.shape, [{"a": 1}, {"b": 1}], "ab", {"a": 2, "b": 2})  # the first two columns
    assert not plain_read(A.shape, [{"b": 1}, {"a": 1}], "ab", {"a": 3, "b": 2})  # the transpose
    np.testing.assert_array_equal(affine_view(np.arange(6.0).reshape(2, 3), [{"a": 1}, {"b": 1}], "ab",
                                              {"a": 2, "b": 2}), [[0, 1], [3, 4]])


@pytest.mark.parametrize("name", ["conv1d", "conv2d", "pool2d", "cnn"])
def test_grad_leaves_its_arguments_as_they_were(name):
    # the sums add in place (a bias into the product, a share into another): into arrays of their own only
    arrays, options = first_case(name)
    before = {k: np.array(v, copy=True) for k, v in arrays.items()}
    module(name).grad(**arrays, **options)
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, before[k])


def conv_by_loops(x, W, b, padding):
    """Y[o, i, j] = sum_{c, p, q} W[o, c, p, q] Xp[c, i + p, j + q] + b[o], Xp = x zero-padded."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    n_out, _, K_h, K_w = W.shape
    Y = np.empty((n_out, xp.shape[1] - K_h + 1, xp.shape[2] - K_w + 1))
    for o, i, j in itertools.product(*(range(n) for n in Y.shape)):
        Y[o, i, j] = np.sum(W[o] * xp[:, i:i + K_h, j:j + K_w]) + b[o]
    return Y


def test_the_conv2d_export_adds_the_bias_in_place_and_returns_y_as_the_gradient_of_g():
    m = module("conv2d")
    # not a broadcast copy of b, then a third array for the sum
    assert "    Y += affine_einsum(" in derivation("conv2d").module_source()
    rng = np.random.default_rng(6)
    X, W, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    G = rng.standard_normal((2, 4, 7, 7))
    Y = np.stack([conv_by_loops(x, W, b, 1) for x in X])
    got = m.grad(X, W, b, G, padding=1)
    np.testing.assert_allclose(got["G"], Y, rtol=1e-12, atol=1e-12)  # dL/dG = Y for L = sum G Y
    np.testing.assert_allclose(m.forward(X, W, b, G, padding=1)["Y"], Y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["b"], G.sum(axis=(0, 2, 3)), rtol=1e-12)
