"""Each node's torch printer against the reference interpreter (symderive.matrix.evaluate), which shares
nothing with it: the printed code, run on torch tensors, gives the value the node's definition gives.
And what has no printer is an error naming it, never a wrong program."""
import numpy as np
import pytest
import sympy as sp

from symderive import ModelError
from symderive.matrix import evaluate as ev
from symderive.ops.nodes import Concat, Elementwise, Rows, SquaredNorm
from symderive.ops.registry import ACTIVATIONS, deffunction
from symderive.verify.torch_spelling import torch_spelling
from tests.verify.nodes import PRINTER, SIZES, A, B, V, d, h, n, run_printed, s, u, v, w

NODES = {
    "MatMul": A @ v,
    "MatMul of three, a coefficient": 3 * A @ B @ v,
    "negated MatMul": -A @ v,
    "MatAdd with a difference": A @ v - B @ u + v,
    "difference of a sum": sp.MatAdd(v, -sp.MatAdd(u, A @ v)),
    "Transpose": A.T @ v,
    "Transpose of a product": (A @ B).T @ v,
    "row times matrix": v.T @ A,
    "outer product": v @ u.T,
    "HadamardProduct": sp.HadamardProduct(v, u, A @ v),
    "HadamardProduct of a sum": sp.HadamardProduct(v, u + v),
    "HadamardPower 2": sp.HadamardPower(v - u, 2),
    "HadamardPower 3": sp.HadamardPower(v, 3),
    "OneMatrix in a sum": sp.OneMatrix(n, 1) - v,
    "OneMatrix alone": sp.OneMatrix(n, d),
    "ZeroMatrix": sp.ZeroMatrix(n, 1),
    "Identity": sp.Identity(n) @ v + sp.Identity(n) @ u,
    "DiagMatrix": sp.DiagMatrix(v) @ u,
    "DiagMatrix of a sum": sp.DiagMatrix(v + u) @ A,
    "Concat": Concat(v, w),
    "Rows": Rows(Concat(v, w), n, n + d),
    "SquaredNorm": SquaredNorm(A @ v - u) / 2,
    "sum of norms": SquaredNorm(v) / 4 + 2 * SquaredNorm(V.T @ v) - SquaredNorm(w),
    "1 x 1 product": v.T @ A @ u,
    "TimeVar": A @ h.prev + h,
    **{f"Elementwise {f}": Elementwise(f, A @ v + u) for f in ("tanh", "sigmoid", "relu", "step", "softplus", "exp",
                                                               "sign", "abs")},
    **{f"Elementwise {f} (of a positive argument)": Elementwise(f, Elementwise("exp", A @ v) + sp.OneMatrix(n, 1) / 2)
       for f in sorted(ACTIVATIONS)},  # every registered function, log and sqrt included
    "nested functions": Elementwise("tanh", sp.HadamardProduct(Elementwise("sigmoid", v), Elementwise("relu", u))),
}

#: Nodes the reference interpreter does not evaluate, with their value computed by hand in NumPy.
BY_HAND = {
    "MatPow": (sp.MatPow(A, 3) @ v, lambda a: np.linalg.matrix_power(a["A"], 3) @ a["v"]),
    "1 x 1 values": (s @ s + 2 * s, lambda a: a["s"] @ a["s"] + 2 * a["s"]),
    "power of a norm": (sp.sqrt(SquaredNorm(v)) + SquaredNorm(u) ** 2,
                        lambda a: np.sqrt(np.sum(a["v"] ** 2)) + np.sum(a["u"] ** 2) ** 2),
    "scalar log of a norm": (sp.log(SquaredNorm(v) + 1), lambda a: np.log(np.sum(a["v"] ** 2) + 1)),
    "scalar exp": (sp.exp(-SquaredNorm(v)), lambda a: np.exp(-np.sum(a["v"] ** 2))),
    "quotients": (SquaredNorm(v) / (2 * n) - 3 / SquaredNorm(u) + 1 / (n * SquaredNorm(v)) ** 2,
                  lambda a: np.sum(a["v"] ** 2) / 6 - 3 / np.sum(a["u"] ** 2) + 1 / (3 * np.sum(a["v"] ** 2)) ** 2),
    "scalar power of a 1 x 1 value, over a size": (sp.MatPow(s - v.T @ u, 2) / n,
                                                   lambda a: (a["s"] - a["v"].T @ a["u"]) ** 2 / 3),
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_printed_node_computes_what_the_interpreter_computes(name, values):
    got, code = run_printed(NODES[name], values)
    arrays, steps = values
    want = ev.evaluate(NODES[name], ev.Env({**arrays, **steps}, SIZES, ev.NUMPY), step=2)
    assert np.shape(got) == np.shape(want), code  # the same shape, not a broadcast one
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14, err_msg=code)


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_the_printed_node_computes_its_value_by_hand(name, values):
    expr, by_hand = BY_HAND[name]
    got, code = run_printed(expr, values)
    want = by_hand(values[0])
    assert np.shape(got) == np.shape(want), code
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14, err_msg=code)


def test_sums_and_products_are_written_as_the_math_reads():
    assert PRINTER.doprint(A @ v - B @ u + v) == "A @ v + v - B @ u"
    assert PRINTER.doprint(sp.HadamardProduct(v, u + v)) == "v * (u + v)"
    assert PRINTER.doprint(Elementwise("tanh", A @ v + u)) == "torch.tanh(A @ v + u)"
    assert PRINTER.doprint(Elementwise("step", A @ v)) == "((A @ v) > 0).to((A @ v).dtype)"
    assert PRINTER.doprint(SquaredNorm(v - u) / 2) == "0.5 * torch.sum((v - u) ** 2)"
    assert PRINTER.doprint(h.prev) == "h[t - 1]"


def test_elementwise_functions_are_spelled_from_their_registered_torch_equivalent():
    assert torch_spelling("tanh") == "torch.tanh({0})"
    assert torch_spelling("softplus") == "torch.nn.functional.softplus({0})"
    assert torch_spelling("step") == "({0} > 0).to({0}.dtype)"
    assert set(ACTIVATIONS) <= {f for f in ACTIVATIONS if torch_spelling(f)}  # every registered one prints


UNPRINTABLE = {
    "Trace": (sp.Trace(A), "Trace"),
    "KroneckerProduct": (sp.KroneckerProduct(v, u), "KroneckerProduct"),
    "MatrixElement": (A[0, 1] * sp.Integer(2), "MatrixElement"),
    "unregistered scalar function": (sp.sin(SquaredNorm(v)), "sin"),
    "non-integer matrix power": (sp.MatPow(A, sp.Rational(1, 2)) @ v, "matrix power"),
    "a symbol that is not a size": (sp.Symbol("k") * SquaredNorm(v), "symbol k"),
    "a value of another model": (sp.MatrixSymbol("Q", n, 1), "Q is not a value"),
}


@pytest.mark.parametrize("name", sorted(UNPRINTABLE))
def test_a_node_without_a_printer_is_an_error_naming_it(name):
    expr, named = UNPRINTABLE[name]
    with pytest.raises(ModelError, match=named):
        PRINTER.doprint(expr)


@pytest.fixture
def registered():
    names = []

    def register(name, torch):
        facts = {k: getattr(ACTIVATIONS["tanh"], k) for k in ("scalar", "derivative", "rule", "numpy", "reference")}
        deffunction(name, **facts, latex=name, words=(), torch=torch)
        names.append(name)

    yield register
    for name in names:
        del ACTIVATIONS[name]


@pytest.mark.parametrize("torch_equivalent, reason", [
    (lambda torch, x: torch.tanh(x) if x > 0 else x, "branches on its argument"),
    (lambda torch, x: np.tanh(x), "cannot be printed"),
    (lambda torch, x: 1.0, "returned float"),
    (lambda torch, x: torch.tanh(x, out=object()), "cannot print the value"),
])
def test_a_torch_equivalent_that_is_not_a_torch_expression_is_refused(registered, torch_equivalent, reason):
    registered("opaque", torch_equivalent)
    with pytest.raises(ModelError, match=f"torch equivalent of the elementwise function opaque.*{reason}"):
        PRINTER.doprint(Elementwise("opaque", v))
