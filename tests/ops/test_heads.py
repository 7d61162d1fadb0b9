r"""The products of attention heads: their reference evaluation against per-head products written with
``np.einsum``, and their vector-Jacobian rules against ``sympy.diff`` of ``L = \sum G \odot Y`` at explicit sizes.

Per head h (columns h E .. (h + 1) E - 1 of a matrix in blocks, rows h N .. (h + 1) N - 1 of a stack):
stack: Y_h = A_h B_h^T,   concat: Y_h = P_h B_h,   concat^T: Y_h = P_h^T A_h.
"""
import numpy as np
import pytest
import sympy as sp

from symderive.errors import ShapeMismatchError
from symderive.matrix.evaluate import NUMPY, SYMPY, Env, evaluate
from symderive.model.program import check_shapes
from symderive.ops.heads import HeadConcat, HeadConcatT, HeadStack
from symderive.ops.registry import ACTIVATIONS, VJP_RULES

N, M, D, H = sp.symbols("N M D H", integer=True, positive=True)
SIZES = {N: 2, M: 3, D: 4, H: 2}
OPERANDS = {HeadStack: ((N, D), (M, D)), HeadConcat: ((H * N, M), (M, D)), HeadConcatT: ((H * N, M), (N, D))}


def by_hand(op, a, b, heads):
    """The per-head products with einsum over a heads axis (independent of the reference evaluation)."""
    blocks = lambda m: m.reshape(m.shape[0], heads, -1)  # noqa: E731  (columns in blocks: n, h, e)
    stack = lambda m: m.reshape(heads, -1, m.shape[1])  # noqa: E731  (rows in blocks: h, n, m)
    if op is HeadStack:
        return np.einsum("nhe,mhe->hnm", blocks(a), blocks(b)).reshape(-1, b.shape[0])
    if op is HeadConcat:
        return np.einsum("hnm,mhe->nhe", stack(a), blocks(b)).reshape(a.shape[0] // heads, -1)
    return np.einsum("hnm,nhe->mhe", stack(a), blocks(b)).reshape(a.shape[1], -1)


def operands(op):
    (ra, ca), (rb, cb) = OPERANDS[op]
    return sp.MatrixSymbol("A", ra, ca), sp.MatrixSymbol("B", rb, cb)


def explicit(name, rows, cols):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}"))


@pytest.mark.parametrize("op", [HeadStack, HeadConcat, HeadConcatT])
def test_reference_evaluation_is_the_per_head_product(op):
    rng = np.random.default_rng(0)
    a, b = operands(op)
    values = {s.name: rng.standard_normal([int(n.xreplace(SIZES)) for n in s.shape]) for s in (a, b)}
    got = evaluate(op(a, b, H), Env(values, SIZES, NUMPY))
    np.testing.assert_allclose(got, by_hand(op, values["A"], values["B"], SIZES[H]), rtol=1e-13)
    assert got.shape == tuple(int(n.xreplace(SIZES)) for n in op(a, b, H).shape)


@pytest.mark.parametrize("op", [HeadStack, HeadConcat, HeadConcatT])
def test_vjp_rules_are_the_gradients_of_the_inner_product_with_g(op):
    a, b = operands(op)
    node = op(a, b, H)
    g = sp.MatrixSymbol("G", *node.shape)
    shape = lambda m: [int(n.xreplace(SIZES)) for n in m.shape]  # noqa: E731
    values = {m.name: explicit(m.name, *shape(m)) for m in (a, b, g)}
    env = Env(values, SIZES, SYMPY)
    loss = sum(evaluate(node, env).multiply_elementwise(values["G"]))
    for arg, share in VJP_RULES[op].shares(node, g, node, ACTIVATIONS):
        expected = values[arg.name].applyfunc(lambda entry: sp.diff(loss, entry))
        assert sp.expand(evaluate(share, env) - expected) == sp.zeros(*expected.shape)


def test_heads_that_do_not_fit_are_named():
    a, b = sp.MatrixSymbol("A", N, D), sp.MatrixSymbol("B", M, M)
    with pytest.raises(ShapeMismatchError, match="heads"):
        check_shapes(HeadStack(a, b, H), "S")


def test_the_check_catches_a_wrong_rule():
    """B's share of stack(A_h B_h^T) written without the transpose, concat(Y_h A_h) instead of concat(Y_h^T A_h):
    the same comparison with sympy.diff finds a difference (N = M, so the wrong share has the right shape)."""
    a, b = sp.MatrixSymbol("A", N, D), sp.MatrixSymbol("B", N, D)
    node, sizes = HeadStack(a, b, H), {N: 2, D: 4, H: 2}
    g = sp.MatrixSymbol("G", *node.shape)
    values = {m.name: explicit(m.name, *[int(n.xreplace(sizes)) for n in m.shape]) for m in (a, b, g)}
    env = Env(values, sizes, SYMPY)
    loss = sum(evaluate(node, env).multiply_elementwise(values["G"]))
    expected = values["B"].applyfunc(lambda entry: sp.diff(loss, entry))
    assert sp.expand(evaluate(HeadConcatT(g, a, H), env) - expected) == sp.zeros(2, 4)
    assert sp.expand(evaluate(HeadConcat(g, a, H), env) - expected) != sp.zeros(2, 4)
