"""Hypothesis over the torch printer: random compositions of the nodes (sums, differences, scalar multiples,
products, transposes, Hadamard products and powers, functions, diag, stacking and rows) print as code that
computes what the reference interpreter computes, so no precedence or parenthesis is wrong."""
import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symderive.matrix import evaluate as ev
from symderive.ops.nodes import Concat, Elementwise, Rows, SquaredNorm
from tests.verify.nodes import SIZES, A, B, n, node_values, run_printed, u, v, w

FUNCTIONS = ("tanh", "sigmoid", "softplus", "relu", "abs", "sign")
COEFFICIENTS = (sp.Integer(-1), sp.Integer(2), sp.Rational(-1, 2), sp.Rational(3, 4))


def combine(vectors):
    """One node over (n x 1) vectors ``vectors`` gives."""
    pairs = st.tuples(vectors, vectors)
    return st.one_of(
        pairs.map(lambda ab: ab[0] + ab[1]),
        pairs.map(lambda ab: ab[0] - ab[1]),
        st.tuples(st.sampled_from(COEFFICIENTS), vectors).map(lambda ca: ca[0] * ca[1]),
        st.tuples(st.sampled_from((A, B, A.T, A @ B)), vectors).map(lambda ma: ma[0] @ ma[1]),
        pairs.map(lambda ab: sp.HadamardProduct(ab[0], ab[1])),
        vectors.map(lambda a: sp.HadamardPower(a, 2)),
        st.tuples(st.sampled_from(FUNCTIONS), vectors).map(lambda fa: Elementwise(fa[0], fa[1])),
        pairs.map(lambda ab: sp.DiagMatrix(ab[0]) @ ab[1]),
        st.tuples(vectors, vectors, vectors).map(lambda abc: abc[0] @ (abc[1].T @ abc[2])),
        vectors.map(lambda a: Rows(Concat(w, a), 2, n + 2)),  # w has 2 rows: the rows of a
        vectors.map(lambda a: (a.T @ A).T),
    )


EXPRESSIONS = st.recursive(st.sampled_from((v, u, A @ v, sp.OneMatrix(n, 1))), combine, max_leaves=6)


def interpretable(expr):
    """``expr`` as the interpreter evaluates it: sizes as numbers (``1^T 1`` is the number n) and ``A^k`` as
    the product of k factors (SymPy writes ``A A`` as a power)."""
    expr = expr.xreplace(SIZES)
    return expr.replace(lambda e: isinstance(e, sp.MatPow), lambda e: sp.MatMul(*[e.base] * int(e.exp)))


@settings(max_examples=60, deadline=None)
@given(EXPRESSIONS, st.booleans())
def test_random_expressions_print_as_what_they_compute(expr, as_norm):
    values = node_values()
    expr = SquaredNorm(expr) / 3 - SquaredNorm(v) if as_norm else expr
    got, code = run_printed(expr, values)
    arrays, _ = values
    want = ev.evaluate(interpretable(expr), ev.Env(arrays, SIZES, ev.NUMPY))
    assert np.shape(got) == np.shape(want), code
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=code)
