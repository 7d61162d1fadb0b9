"""The row-wise ops: each VJP rule is proved against ``sympy.diff`` of the op's definition written entry by entry
here (not through our interpreter), at explicit sizes; the rules' expressions are evaluated by the reference
interpreter. Then printing, the export's helpers and refusals."""
import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.errors import ModelError
from symderive.matrix.evaluate import NUMPY, SYMPY, Env, evaluate
from symderive.matrix.latex_printer import to_latex
from symderive.ops.registry import ACTIVATIONS, VJP_RULES
from symderive.ops.rows import NormalizeRows, RowMean, RowSum, SoftmaxRows, causal_option, eps_option

n, m = sp.symbols("n m", integer=True, positive=True)
ROWS, COLS = 2, 3
EPS = sp.Symbol("option_eps", positive=True)  # a free option is this symbol in the reference evaluation


def explicit(name, rows=ROWS, cols=COLS) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def share_of(node, upstream) -> sp.MatrixExpr:
    """The share the registered rule gives the node's first argument."""
    [(_, share)] = [s for s in VJP_RULES[type(node)].shares(node, upstream, node, ACTIVATIONS) if s[0] == node.args[0]]
    return share


def derived(share, values: dict) -> sp.Matrix:
    return evaluate(share, Env(values, {n: ROWS, m: COLS}, SYMPY))


def brute(loss, X: sp.Matrix) -> sp.Matrix:
    return X.applyfunc(lambda x: sp.diff(loss, x))


def softmax_rows_by_hand(S: sp.Matrix, causal: bool) -> sp.Matrix:
    """p_ij = e^{s_ij} / sum_{k allowed} e^{s_ik}, with only k <= i allowed when causal (0 elsewhere)."""
    def entry(i, j):
        allowed = [k for k in range(S.cols) if not causal or k <= i]
        return sp.exp(S[i, j]) / sum(sp.exp(S[i, k]) for k in allowed) if j in allowed else sp.S.Zero

    return sp.Matrix(S.rows, S.cols, entry)


def normalized_by_hand(X: sp.Matrix, eps) -> sp.Matrix:
    """(x - mean) / sqrt(mean((x - mean)^2) + eps), row by row."""
    out = []
    for i in range(X.rows):
        row = list(X.row(i))
        mu = sum(row) / len(row)
        var = sum((x - mu) ** 2 for x in row) / len(row)
        out.append([(x - mu) / sp.sqrt(var + eps) for x in row])
    return sp.Matrix(out)


def is_zero(matrix: sp.Matrix) -> bool:
    return all(sp.simplify(e) == 0 for e in matrix)


@pytest.mark.parametrize("causal", [False, True])
def test_the_softmax_rows_rule_is_the_derivative(causal):
    # Source of the expected result: sympy.diff of <G, softmax_row(S)> with softmax written out entry by entry.
    S, G = sp.MatrixSymbol("S", n, m), sp.MatrixSymbol("G", n, m)
    Sx, Gx = explicit("S"), explicit("G")
    share = share_of(SoftmaxRows(S, causal_option(causal)), G)
    loss = sum(Gx.multiply_elementwise(softmax_rows_by_hand(Sx, causal)))
    assert is_zero(derived(share, {"S": Sx, "G": Gx}) - brute(loss, Sx))


def test_the_checker_of_a_rule_fails_on_a_wrong_rule():
    # P ⊙ P̄ without the row-sum correction is the derivative of nothing here: the check above must see it.
    S, G = sp.MatrixSymbol("S", n, m), sp.MatrixSymbol("G", n, m)
    Sx, Gx = explicit("S"), explicit("G")
    node = SoftmaxRows(S)
    wrong = sd.hadamard(node, G)
    loss = sum(Gx.multiply_elementwise(softmax_rows_by_hand(Sx, False)))
    assert not is_zero(derived(wrong, {"S": Sx, "G": Gx}) - brute(loss, Sx))


def test_the_normalize_rows_rule_is_the_compact_layer_norm_backward():
    # Source: sympy.diff of <G, (x - mu)/sqrt(var + eps)> per row, written out here (the biased variance).
    X, G = sp.MatrixSymbol("X", n, m), sp.MatrixSymbol("G", n, m)
    Xx, Gx = explicit("X"), explicit("G")
    share = share_of(NormalizeRows(X, eps_option()), G)
    loss = sum(Gx.multiply_elementwise(normalized_by_hand(Xx, EPS)))
    difference = derived(share, {"X": Xx, "G": Gx}) - brute(loss, Xx)
    # Exact simplification takes ~40 s (square roots); 60 digits at random rational points instead. The exact
    # proof of the same rule at N=2, D=3 is the layernorm derivation's symbolic check (atoms for the roots).
    rng = np.random.default_rng(0)
    for _ in range(2):
        point = {s: sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 5))) for s in difference.free_symbols}
        assert all(abs(sp.N(e.xreplace(point), 60)) < 1e-50 for e in difference)


@pytest.mark.parametrize("node_type,by_hand", [
    (RowSum, lambda A: A * sp.ones(A.cols, 1)),
    (RowMean, lambda A: A * sp.ones(A.cols, 1) / A.cols),
])
def test_row_sums_and_means_rules(node_type, by_hand):
    A, g = sp.MatrixSymbol("A", n, m), sp.MatrixSymbol("g", n, 1)
    Ax, gx = explicit("A"), explicit("g", ROWS, 1)
    share = share_of(node_type(A), g)
    loss = (gx.T * by_hand(Ax))[0, 0]
    assert is_zero(derived(share, {"A": Ax, "g": gx}) - brute(loss, Ax))
    assert derived(node_type(A), {"A": Ax}) == by_hand(Ax)


def test_the_causal_softmax_reads_only_earlier_columns():
    S = sp.MatrixSymbol("S", n, m)
    values = np.arange(6.0).reshape(2, 3)
    env = Env({"S": values}, {n: 2, m: 3}, NUMPY)
    P = evaluate(SoftmaxRows(S, causal_option(True)), env)
    assert P[0, 1] == 0 and P[0, 2] == 0 and P[1, 2] == 0 and P[0, 0] == 1
    assert np.allclose(P.sum(axis=1), 1)


def test_printing():
    S, X = sp.MatrixSymbol("S", n, m), sp.MatrixSymbol("X", n, m)
    assert to_latex(sd.softmax(S, rows=True)) == r"\operatorname{softmax}_{\text{row}}\left(S\right)"
    assert "causal" in to_latex(sd.softmax(S, rows=True, causal=True))
    assert to_latex(RowSum(X)) == r"\operatorname{rowsum}\left(X\right)"
    assert to_latex(sd.attention_scale(sp.Symbol("d_k"))) == r"\frac{1}{\sqrt{d_{k}}}"


def test_refusals_name_the_problem():
    X = sp.MatrixSymbol("X", n, m)
    with pytest.raises(ModelError, match="causal=True masks a row-wise softmax"):
        sd.softmax(sp.MatrixSymbol("v", n, 1), causal=True)
    with pytest.raises(ModelError, match="normalises the rows of a matrix"):
        sd.normalize_rows(sp.MatrixSymbol("v", n, 1))
    with pytest.raises(ModelError, match="takes gamma and beta of size m"):
        sd.layer_norm(X, sp.MatrixSymbol("g", n, 1), sp.MatrixSymbol("b", m, 1))
