"""The PyTorch program printed from a model, the external reference of verification for any model: its
gradients (torch autograd of the printed loss) agree with the exported NumPy module's grad and with central
differences of the reference interpreter's loss; its source is readable, deterministic and eval-free."""
import ast
import copy
import os
import subprocess
import sys

import numpy as np
import pytest

import symderive as sd
from symderive.matrix import evaluate as ev
from symderive.matrix.engine import default_sizes
from symderive.ops.nodes import TimeVar
from symderive.verify.autograd import PrintedProgram, autograd_gradients
from symderive.verify.harness import reference_note
from symderive.verify.matrix_checks import evaluator_loss, random_arguments
from symderive.verify.numeric import central_differences, compare
from symderive.verify.torch_program import torch_program_source
from tests.verify.user_models import USER_MODELS

BUILT_INS = ("dense", "rnn", "lstm", "gru")
needs_torch = pytest.mark.skipif(not __import__("importlib").util.find_spec("torch"),
                                 reason="torch not installed (optional external reference)")


@pytest.fixture(scope="module")
def derivations():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = sd.derivation(name) if name in BUILT_INS else sd.derive(USER_MODELS[name]())
        return cache[name]

    return get


EXPORTED = [*BUILT_INS, *USER_MODELS]


@needs_torch
@pytest.mark.parametrize("name", EXPORTED)
def test_gradients_agree_with_the_exported_module(name, derivations):
    d = derivations(name)
    module = d.load_module()
    arrays = random_arguments(d.program, d.sizes.numeric, seed=3)
    want = module.grad(**arrays)
    got = PrintedProgram(d.program)(arrays)
    assert sorted(got) == sorted(arrays)
    for k in arrays:
        assert compare(got[k], want[k])[0] <= 1e-9, k
        np.testing.assert_allclose(got[k], want[k], rtol=1e-9, atol=1e-12, err_msg=k)


@needs_torch
@pytest.mark.parametrize("name", [*BUILT_INS, *USER_MODELS])
def test_gradients_agree_with_central_differences_of_the_interpreter(name, derivations):
    """Central differences of the reference interpreter's loss (nothing of the printer in it), at small sizes."""
    program = derivations(name).program if name in BUILT_INS else USER_MODELS[name]().program()
    sizes = derivations(name).sizes.small if name in BUILT_INS else default_sizes(program).small
    arrays = random_arguments(program, sizes, seed=5)
    interpreted = evaluator_loss(program, ev.FULL, arrays)  # np.sum: the entry of a 1 x 1 loss
    got = PrintedProgram(program)(arrays)
    for k in arrays:
        rel, _, close = compare(got[k], central_differences(lambda a: np.sum(interpreted(a)), arrays, k))
        assert close and rel < 1e-7, (k, rel)


@needs_torch
@pytest.mark.parametrize("name", [*BUILT_INS, *USER_MODELS])
def test_the_printed_loss_is_the_interpreters_loss(name, derivations):
    import torch

    program = derivations(name).program if name in BUILT_INS else USER_MODELS[name]().program()
    arrays = random_arguments(program, default_sizes(program).numeric, seed=7)
    want = float(np.sum(evaluator_loss(program, ev.FULL, arrays)(arrays)))  # the entry of a 1 x 1 loss
    module = PrintedProgram(program).load()
    got = module.loss(**{k: torch.tensor(a) for k, a in arrays.items()})
    assert got.shape == ()
    assert abs(float(got) - want) <= 1e-12 * abs(want)


@needs_torch
def test_autograd_gradients_runs_the_printed_program():
    program = USER_MODELS["two_state"]().program()
    arrays = random_arguments(program, default_sizes(program).small)
    got, want = autograd_gradients(program, arrays), PrintedProgram(program)(arrays)
    assert all(np.array_equal(got[k], want[k]) for k in arrays)


def test_a_derived_model_is_verified_against_its_printed_program(derivations):
    d = derivations("sigmoid_rnn")
    assert isinstance(d.torch_reference, PrintedProgram)
    assert d.torch_reference.source == torch_program_source(d.program)
    for name in ("rnn", "lstm", "gru"):  # the built-ins that compare with torch.nn.RNN/LSTM/GRU keep it
        assert not isinstance(derivations(name).torch_reference, PrintedProgram)
        assert reference_note(derivations(name)) == []


@needs_torch
def test_the_report_names_the_printed_program(derivations):
    report = derivations("dense").verify()
    assert report.passed
    assert "reference: torch autograd of the printed program" in report.table()
    assert all(row.reference.startswith("torch ok") for row in report.rows if row.quantity.startswith("dL/d"))


@needs_torch
def test_a_wrong_printed_program_fails_the_verification():
    """The checker fails when the reference disagrees: a function whose torch equivalent is tanh while
    everything else about it is the sigmoid's."""
    sigmoid = sd.ops.registry.ACTIVATIONS["sigmoid"]
    facts = {k: getattr(sigmoid, k) for k in ("scalar", "derivative", "rule", "numpy", "reference", "latex")}
    sd.deffunction("mislabelled", **facts, words=(), torch=lambda torch, x: torch.tanh(x))
    try:
        m = sd.Model("mislabelled")
        n, k = m.sizes("n k")
        W, x, y = m.param("W", n, k), m.input("x", k), m.input("y", n)
        a = m.let("a", sd.apply("mislabelled", W @ x))
        m.loss(sd.squared_norm(a - y) / 2)
        report = sd.derive(m).verify()
    finally:
        del sd.ops.registry.ACTIVATIONS["mislabelled"]
    assert not report.passed
    assert all(row.reference.startswith("torch FAIL") for row in report.rows if row.quantity.startswith("dL/d"))


# ---------------------------------------------------------------------------------------------
# The source.

PRINT_ALL = """
import symderive as sd
from symderive.verify.torch_program import torch_program_source
from symderive.ops.nodes import TimeVar
from tests.verify.user_models import USER_MODELS
for name in ("dense", "rnn", "lstm", "gru"):
    print(torch_program_source(sd.derivation(name).program))
for model in USER_MODELS.values():
    print(torch_program_source(model().program()))
"""


def test_the_source_is_deterministic():
    """The same text in processes with different string hashing (set and dict orders)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    texts = [subprocess.run([sys.executable, "-c", PRINT_ALL], capture_output=True, text=True, check=True, cwd=root,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    assert texts[0] == texts[1]
    assert "def loss(W_hh, W_xh, b_h, W_hy, b_y, h0, x, y):" in texts[0]


@pytest.mark.parametrize("name", [*BUILT_INS, *USER_MODELS])
def test_the_source_is_plain_torch_without_eval(name, derivations):
    program = derivations(name).program if name in BUILT_INS else USER_MODELS[name]().program()
    tree = ast.parse(torch_program_source(program))
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [alias.name for node in imports for alias in node.names] == ["torch"]
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert called <= {"loss", "range", "dict", "enumerate", "zip", "tuple"}, called
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"eval", "exec", "compile", "__import__", "open", "getattr"}
    assert [node.name for node in tree.body if isinstance(node, ast.FunctionDef)] == ["loss", "grad"]


def test_the_rnn_program_reads_as_its_equations(derivations):
    source = torch_program_source(derivations("rnn").program)
    assert "    for t in range(1, T + 1):\n" in source
    assert "        z[t] = W_hh @ h[t - 1] + W_xh @ x[t] + b_h\n" in source
    assert "        h[t] = torch.tanh(z[t])\n" in source
    assert "        L = L + 0.5 * torch.sum((o[t] - y[t]) ** 2)\n" in source
    assert "    x = dict(enumerate(x.reshape(T, d, 1), start=1))\n" in source


def test_a_scalar_mean_from_a_fixed_state_reads_as_its_equations():
    source = torch_program_source(USER_MODELS["scalar_rnn"]().program())
    assert "def loss(w, u, x, y):" in source  # h_0 = 0 is no argument
    assert "    h = {0: torch.zeros((1, 1), dtype=torch.float64)}\n" in source
    assert "        L = L + ((0.5 / T) * (h[t] - y[t]) ** 2)[0, 0]\n" in source


def test_names_the_program_uses_itself_are_renamed():
    m = sd.Model("clash")
    n, = m.sizes("n")
    torch, L = m.param("torch", n, n), m.input("L", n)
    lam = m.let("lambda", sd.tanh(torch @ L))
    m.loss(sd.squared_norm(lam))
    source = torch_program_source(m.program())
    assert "def loss(torch_, L_):" in source
    assert "    lambda_ = torch.tanh(torch_ @ L_)\n" in source
    compile(source, "clash", "exec")


def test_a_size_no_argument_shows_is_an_error():
    m = sd.Model("hidden_size")
    n, k = m.sizes("n k")
    v, u = m.param("v", n + k), m.input("u", n + k)
    m.loss(sd.squared_norm(sd.hadamard(v, u)))
    with pytest.raises(sd.ModelError, match="cannot read the size k, n off the arguments"):
        torch_program_source(m.program())


def test_a_value_read_later_in_time_is_an_error():
    """The program's checks refuse it today; the printer refuses it too rather than print a loop in the
    wrong direction (a program built past the checks)."""
    m = USER_MODELS["sigmoid_rnn"]().program()
    z = m.assignments[0]
    ahead = z.expr.xreplace({v: v.at(v.time + 2) for v in z.expr.atoms(TimeVar) if v.name == "h"})
    program = copy.copy(m)  # past Program's checks
    object.__setattr__(program, "assignments", (type(z)(z.target, ahead), *m.assignments[1:]))
    with pytest.raises(sd.ModelError, match=r"forward in time, but z reads h at t \+ 1"):
        torch_program_source(program)
