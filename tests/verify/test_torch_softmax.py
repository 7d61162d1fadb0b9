"""Softmax, log-softmax and the sum of entries in the printed torch program: torch.softmax and
torch.log_softmax over the vector's entries (down a column, along a row), against the reference
interpreter, the exported module and central differences."""
import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.matrix import evaluate as ev
from symderive.matrix.engine import default_sizes
from symderive.ops.softmax import LogSoftmax, Softmax, SumEntries
from symderive.verify.autograd import PrintedProgram
from symderive.verify.matrix_checks import evaluator_loss, random_arguments
from symderive.verify.numeric import central_differences, compare
from tests.verify.nodes import PRINTER, A, run_printed, u, v

NODES = {
    "Softmax of a column": Softmax(A @ v + u),
    "Softmax of a row": Softmax(v.T @ A),
    "LogSoftmax of a column": LogSoftmax(A @ v),
    "LogSoftmax of a row": LogSoftmax(u.T + v.T @ A),
    "SumEntries": SumEntries(sp.HadamardProduct(u, LogSoftmax(A @ v))),
    "cross-entropy": sd.cross_entropy(A @ v, u),
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_printed_node_computes_what_the_interpreter_computes(name, values):
    got, code = run_printed(NODES[name], values)
    arrays, steps = values
    want = ev.evaluate(NODES[name], ev.Env({**arrays, **steps}, {}, ev.NUMPY), step=2)
    assert np.shape(got) == np.shape(want), code
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14, err_msg=code)


def test_softmax_prints_as_torch_softmax_over_the_entries():
    assert PRINTER.doprint(Softmax(A @ v)) == "torch.softmax(A @ v, dim=0)"
    assert PRINTER.doprint(LogSoftmax(v.T @ A)) == "torch.log_softmax(v.T @ A, dim=1)"


def softmax_rnn(row: bool) -> sd.Model:
    """A sigmoid RNN with a softmax output and a cross-entropy loss, in the column or the row convention."""
    m = sd.Model("softmax_rnn_" + ("row" if row else "column"))
    n, d, q = m.sizes("n d q")
    if row:
        W_X, W_H, b, W_Q, c = (m.param("W_X", d, n), m.param("W_H", n, n), m.param("b", 1, n), m.param("W_Q", n, q),
                               m.param("c", 1, q))
        X, Y, H = m.sequence("X", 1, d), m.sequence("Y", 1, q), m.state("H", 1, n)
        m.let(H, sd.sigmoid(X @ W_X + H.prev @ W_H + b))
        m.loss(sd.cross_entropy(m.let("O", H @ W_Q + c), Y))
    else:
        W_h, W_x, b, W_y, c = (m.param("W_h", n, n), m.param("W_x", n, d), m.param("b", n), m.param("W_y", q, n),
                               m.param("c", q))
        x, y, h = m.sequence("x", d), m.sequence("y", q), m.state("h", n)
        m.let(h, sd.sigmoid(W_h @ h.prev + W_x @ x + b))
        p = m.let("p", sd.softmax(W_y @ h + c))
        m.loss(-sd.sum_entries(sd.hadamard(y, sd.log(p))))
    return m


@pytest.mark.parametrize("row", [False, True])
def test_gradients_agree_with_central_differences_of_the_interpreter(row):
    pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    program = softmax_rnn(row).program()
    arrays = random_arguments(program, default_sizes(program).small, seed=2)
    interpreted = evaluator_loss(program, ev.FULL, arrays)
    got = PrintedProgram(program)(arrays)
    for k in arrays:
        rel, _, close = compare(got[k], central_differences(lambda a: np.sum(interpreted(a)), arrays, k))
        assert close and rel < 1e-7, (k, rel)


@pytest.mark.parametrize("row", [False, True])
def test_gradients_agree_with_the_exported_module(row):
    pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    d = sd.derive(softmax_rnn(row))
    arrays = random_arguments(d.program, d.sizes.numeric, seed=3)
    want, got = d.load_module().grad(**arrays), PrintedProgram(d.program)(arrays)
    for k in arrays:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_the_row_program_reads_as_its_equations():
    source = PrintedProgram(softmax_rnn(True).program()).source
    assert "        H[t] = torch.sigmoid(H[t - 1] @ W_H + X[t] @ W_X + b)\n" in source
    assert "        L = L - torch.sum(torch.log_softmax(O[t], dim=1) * Y[t])\n" in source
