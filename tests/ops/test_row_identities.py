"""Each row-sum identity the documents rewrite the engine's adjoints with, proved at explicit sizes: both sides
evaluated entry by entry with symbols, the difference simplified to 0; and each rule fires only where it holds."""
import sympy as sp

from symderive.matrix.evaluate import SYMPY, Env, evaluate
from symderive.ops.nodes import hadamard
from symderive.ops.row_identities import ONES_TRANSPOSE, ROWSUM_PRODUCT, SOFTMAX_ROWSUM
from symderive.ops.rows import RowSum, SoftmaxRows

n, m, k = sp.symbols("n m k", integer=True, positive=True)
SIZES = {n: 2, m: 3, k: 2}


def explicit(name, rows, cols) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def value(expr, **matrices):
    return evaluate(expr, Env(matrices, SIZES, SYMPY))


def test_a_product_moves_out_of_a_row_sum():
    # rowsum((A B^T) ⊙ C)_i = sum_j sum_l A_il B_jl C_ij = sum_l A_il (C B)_il.
    A, B, C = sp.MatrixSymbol("A", n, k), sp.MatrixSymbol("B", m, k), sp.MatrixSymbol("C", n, m)
    left = RowSum(hadamard(A * B.T, C))
    right = ROWSUM_PRODUCT.apply(left)
    assert right != left and right == RowSum(hadamard(A, C * B))
    values = {"A": explicit("A", 2, 2), "B": explicit("B", 3, 2), "C": explicit("C", 2, 3)}
    assert sp.expand(value(left, **values) - value(right, **values)) == sp.zeros(2, 1)


def test_a_wrong_version_of_the_rule_is_not_an_identity():
    # The checker above can fail: the transpose of B on the wrong side gives another number.
    A, B, C = sp.MatrixSymbol("A", n, k), sp.MatrixSymbol("B", m, k), sp.MatrixSymbol("C", n, m)
    values = {"A": explicit("A", 2, 2), "B": explicit("B", 3, 2), "C": explicit("C", 2, 3)}
    wrong = RowSum(hadamard(A, C * B)) * 2
    assert sp.expand(value(RowSum(hadamard(A * B.T, C)), **values) - value(wrong, **values)) != sp.zeros(2, 1)


def test_ones_times_a_transpose_is_the_transposed_row_sums():
    A, W = sp.MatrixSymbol("A", n, m), sp.MatrixSymbol("W", n, k)
    left = sp.MatMul(sp.OneMatrix(1, m), A.T, W)
    right = ONES_TRANSPOSE.apply(left)
    assert right == sp.MatMul(sp.Transpose(RowSum(A)), W)
    values = {"A": explicit("A", 2, 3), "W": explicit("W", 2, 2)}
    assert sp.expand(value(left, **values) - value(right, **values)) == sp.zeros(1, 2)


def centred(X, P):
    return hadamard(P, X - sp.MatMul(RowSum(hadamard(X, P)), sp.OneMatrix(1, m)))


def test_the_softmax_row_sum_vanishes_because_rows_sum_to_one():
    S, X = sp.MatrixSymbol("S", n, m), sp.MatrixSymbol("X", n, m)
    left = RowSum(centred(X, SoftmaxRows(S)))
    assert SOFTMAX_ROWSUM.apply(left) == sp.ZeroMatrix(n, 1)
    values = {"S": explicit("S", 2, 3), "X": explicit("X", 2, 3)}
    assert all(sp.simplify(e) == 0 for e in value(left, **values))


def test_the_softmax_row_sum_rule_needs_a_softmax():
    # For any P whose rows do not sum to one the sum is not 0, and the rule leaves it alone.
    P, X = sp.MatrixSymbol("P", n, m), sp.MatrixSymbol("X", n, m)
    left = RowSum(centred(X, P))
    assert SOFTMAX_ROWSUM.apply(left) == left
    assert SOFTMAX_ROWSUM.apply(left, frozenset({"P"})) == sp.ZeroMatrix(n, 1)  # P named as a softmax value
    values = {"P": explicit("P", 2, 3), "X": explicit("X", 2, 3)}
    assert any(sp.expand(e) != 0 for e in value(left, **values))
