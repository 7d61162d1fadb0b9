r"""Softmax, log-softmax and the sum of entries as nodes: their VJP rules against Jacobians written by hand,
their reference evaluation, printing, and the refusal of matrices.

    softmax:      J = diag(s) - s s^T              (J_ij = ds_i/dz_j = s_i (delta_ij - s_j))
    log-softmax:  J = I - 1 s^T                    (J_ij = delta_ij - s_j)

so the VJPs are J^T g = s ⊙ g - s (s^T g) and g - s (1^T g) (the Jacobians by hand, and by sympy.diff).
"""
import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.errors import ModelError, ShapeMismatchError
from symderive.export.scaffold import HELPERS
from symderive.matrix.evaluate import NUMPY, SYMPY, Env, evaluate
from symderive.matrix.latex_printer import to_latex
from symderive.matrix.numpy_printer import printer, step_index
from symderive.ops.registry import ACTIVATIONS, VJP_RULES
from symderive.ops.softmax import LogSoftmax, Softmax, SumEntries

n = sp.Symbol("n", integer=True, positive=True)
SHAPES = {"column": (n, 1), "row": (1, n)}


def rule_share(node, g):
    """The share the registered VJP rule gives the node's argument (ans: the node itself)."""
    [(arg, share)] = VJP_RULES[type(node)].shares(node, g, node, ACTIVATIONS)
    assert arg == node.arg
    return share


def numeric(expr, values, size):
    env = Env({k: np.asarray(v, dtype=float) for k, v in values.items()}, {n: size}, NUMPY)
    return evaluate(expr, env)


def softmax_by_hand(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("layout", ["column", "row"])
def test_softmax_vjp_is_the_jacobian_diag_s_minus_s_s_transpose(layout):
    rng = np.random.default_rng(0)
    size = 5
    z_value, g_value = rng.standard_normal(size), rng.standard_normal(size)
    z, g = sp.MatrixSymbol("z", *SHAPES[layout]), sp.MatrixSymbol("g", *SHAPES[layout])
    s = softmax_by_hand(z_value)
    jacobian = np.diag(s) - np.outer(s, s)  # by hand: ds_i/dz_j = s_i (delta_ij - s_j)
    shape = (size, 1) if layout == "column" else (1, size)
    values = {"z": z_value.reshape(shape), "g": g_value.reshape(shape)}
    got = numeric(rule_share(Softmax(z), g), values, size)
    np.testing.assert_allclose(got.ravel(), jacobian.T @ g_value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(numeric(Softmax(z), values, size).ravel(), s, rtol=1e-13)


@pytest.mark.parametrize("layout", ["column", "row"])
def test_log_softmax_vjp_is_the_jacobian_identity_minus_one_s_transpose(layout):
    rng = np.random.default_rng(1)
    size = 4
    z_value, g_value = rng.standard_normal(size), rng.standard_normal(size)
    z, g = sp.MatrixSymbol("z", *SHAPES[layout]), sp.MatrixSymbol("g", *SHAPES[layout])
    s = softmax_by_hand(z_value)
    jacobian = np.eye(size) - np.outer(np.ones(size), s)  # d(z_i - log sum e^z)/dz_j = delta_ij - s_j
    shape = (size, 1) if layout == "column" else (1, size)
    values = {"z": z_value.reshape(shape), "g": g_value.reshape(shape)}
    got = numeric(rule_share(LogSoftmax(z), g), values, size)
    np.testing.assert_allclose(got.ravel(), jacobian.T @ g_value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(numeric(LogSoftmax(z), values, size).ravel(), np.log(s), rtol=1e-13)


@pytest.mark.parametrize("node, definition", [
    (Softmax, lambda z: [sp.exp(zi) / sum(sp.exp(zj) for zj in z) for zi in z]),
    (LogSoftmax, lambda z: [zi - sp.log(sum(sp.exp(zj) for zj in z)) for zi in z]),
])
def test_the_rules_agree_with_sympy_diff_of_the_definition(node, definition):
    size = 3
    z_syms, g_syms = sp.symbols(f"z0:{size}", real=True), sp.symbols(f"g0:{size}", real=True)
    outputs = definition(z_syms)
    brute = [sum(g_syms[i] * sp.diff(outputs[i], z_syms[j]) for i in range(size)) for j in range(size)]
    z, g = sp.MatrixSymbol("z", n, 1), sp.MatrixSymbol("g", n, 1)
    env = Env({"z": sp.Matrix(z_syms), "g": sp.Matrix(g_syms)}, {n: size}, SYMPY)
    derived = evaluate(rule_share(node(z), g), env)
    assert all(sp.simplify(d - b) == 0 for d, b in zip(derived, brute))


def test_sum_entries_takes_numeric_factors_out_and_its_rule_is_the_ones_vector():
    v = sp.MatrixSymbol("v", n, 1)
    assert SumEntries(-2 * v) == -2 * SumEntries(v)
    assert SumEntries(sp.ZeroMatrix(n, 1)) == 0
    [(arg, share)] = VJP_RULES[SumEntries].shares(SumEntries(v), sp.Integer(3), None, ACTIVATIONS)
    assert arg == v and share == 3 * sp.OneMatrix(n, 1)


def test_a_matrix_is_refused_with_the_reason():
    M = sp.MatrixSymbol("M", n, sp.Symbol("d", positive=True, integer=True))
    for build, word in [(sd.softmax, "softmax"), (sd.log_softmax, "log-softmax")]:
        with pytest.raises(ModelError, match=rf"{word} takes a vector .* n x d matrix M; the softmax of each row"):
            build(M)
    with pytest.raises(ModelError, match="softmax takes a vector"):
        sd.softmax(sp.Symbol("a"))


def test_cross_entropy_needs_two_values_of_one_shape():
    o, y = sp.MatrixSymbol("o", n, 1), sp.MatrixSymbol("y", 1, n)
    with pytest.raises(ModelError, match="cross_entropy takes two values of one shape, not n x 1 and 1 x n"):
        sd.cross_entropy(o, y)
    with pytest.raises(ModelError, match="binary_cross_entropy"):
        sd.binary_cross_entropy(o, y)


def test_a_shape_conflict_inside_softmax_is_named():
    m = sd.Model("bad")
    n_, d = m.sizes("n d")
    W, x = m.param("W", n_, d), m.input("x", n_)
    with pytest.raises(ShapeMismatchError, match="cannot multiply n x d by n x 1"):
        m.let("s", sd.softmax(W @ x))


@pytest.mark.parametrize("expr, column, row", [
    (lambda o, y: Softmax(o), r"\operatorname{softmax}\left(o\right)", r"\operatorname{softmax}\left(o\right)"),
    (lambda o, y: LogSoftmax(o), r"\log\operatorname{softmax}\left(o\right)",
     r"\log\operatorname{softmax}\left(o\right)"),
    (lambda o, y: SumEntries(o), r"\mathbf{1}^{\top} o", r"o \mathbf{1}"),
    (lambda o, y: SumEntries(sd.hadamard(y, LogSoftmax(o))), r"y^{\top} \log\operatorname{softmax}\left(o\right)",
     r"y \left(\log\operatorname{softmax}\left(o\right)\right)^{\top}"),
    (lambda o, y: sd.cross_entropy(o, y), r"- y^{\top} \log\operatorname{softmax}\left(o\right)",
     r"- y \left(\log\operatorname{softmax}\left(o\right)\right)^{\top}"),
    (lambda o, y: 2 * SumEntries(o) * SumEntries(y),
     r"2 \left(\mathbf{1}^{\top} o\right) \left(\mathbf{1}^{\top} y\right)",
     r"2 \left(o \mathbf{1}\right) \left(y \mathbf{1}\right)"),
    (lambda o, y: SumEntries(o) ** 2, r"\left(\mathbf{1}^{\top} o\right)^{2}", r"\left(o \mathbf{1}\right)^{2}"),
    (lambda o, y: rule_share(LogSoftmax(o), y),
     r"y - \left(\mathbf{1}^{\top} y\right) \operatorname{softmax}\left(o\right)",
     r"y - \left(y \mathbf{1}\right) \operatorname{softmax}\left(o\right)"),
    (lambda o, y: sd.sqrt(o), r"\sqrt{o}", r"\sqrt{o}"),
])
def test_latex(expr, column, row):
    o, y = sp.MatrixSymbol("o", n, 1), sp.MatrixSymbol("y", n, 1)
    assert to_latex(expr(o, y)) == column
    assert to_latex(expr(o, y), layout="row") == row


def exported(expr, **arrays):
    """Evaluate the NumPy code printed for ``expr`` (its leaves are 1-D arrays, as the export stores a step)."""
    code = printer(step_index(lambda name: 0), lambda name: 0).doprint(expr)
    namespace = {"np": np}
    for marker, helper in HELPERS.items():  # the helpers an exported module would carry
        if marker in code:
            exec(helper, namespace)  # our own helper code
    return eval(code, namespace, arrays)  # our own printed code, on our own arrays


def test_the_printed_numpy_is_stable_for_large_logits():
    z = sp.MatrixSymbol("z", n, 1)
    big = np.array([1000.0, 999.0, -1000.0])
    expected = softmax_by_hand(big)  # by hand, shifted by the max
    np.testing.assert_allclose(exported(Softmax(z), z=big), expected, rtol=1e-15)
    np.testing.assert_allclose(exported(LogSoftmax(z), z=big), [-np.log1p(np.exp(-1.0)), -1 - np.log1p(np.exp(-1.0)),
                                                                -2000 - np.log1p(np.exp(-1.0))], rtol=1e-15)
    steps = np.vstack([big, big - 5.0])  # a (steps, size) array: one softmax per row
    np.testing.assert_allclose(exported(Softmax(z), z=steps), np.vstack([expected, expected]), rtol=1e-15)
    np.testing.assert_allclose(exported(SumEntries(z), z=steps), [[999.0], [984.0]])
