"""The exported module's contract: NumPy only, SHAPES, forward/loss/grad at any size, clear errors."""
import ast
import importlib.util
import os

import numpy as np
import pytest

from symderive import ExportError, derivation
from symderive.verify.matrix_checks import random_arguments
from tests.oracles import rnn as oracle_rnn

RNN_ARGS = ("W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "x", "y")


def load(path):
    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "rnn_grad.py"
    derivation("rnn").export(path)
    return path


def test_imports_only_numpy(exported):
    tree = ast.parse(exported.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"numpy"}


def test_shapes_and_docstring(exported):
    module = load(exported)
    assert module.SHAPES == {"W_hh": ("n", "n"), "W_xh": ("n", "d"), "b_h": ("n",), "W_hy": ("q", "n"),
                             "b_y": ("q",), "h0": ("n",), "x": ("T", "d"), "y": ("T", "q")}
    assert r"z_{t} = W_{hh} h_{t-1} + W_{xh} x_{t} + b_{h}" in module.__doc__
    assert r"\frac{\partial L}{\partial W_{hh}}" in module.__doc__


def sizes_arrays(n, d, q, T, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"W_hh": (n, n), "W_xh": (n, d), "b_h": (n,), "W_hy": (q, n), "b_y": (q,), "h0": (n,),
              "x": (T, d), "y": (T, q)}
    return {k: rng.standard_normal(s) / np.sqrt(s[-1] if len(s) == 2 and k[0] == "W" else 1) for k, s in shapes.items()}


@pytest.mark.parametrize("n,d,q,T", [(1, 1, 1, 1), (3, 2, 5, 4), (40, 7, 3, 33)])
def test_any_size_matches_the_oracle(exported, n, d, q, T):
    module = load(exported)
    arrays = sizes_arrays(n, d, q, T)
    got, want = module.grad(**arrays), oracle_rnn.grad(**arrays)
    assert set(got) == set(RNN_ARGS)
    for name in RNN_ARGS:
        assert got[name].shape == arrays[name].shape
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12)
    h, o = oracle_rnn.forward(*(arrays[k] for k in RNN_ARGS[:-1]))
    fw = module.forward(**arrays)
    np.testing.assert_allclose(fw["h"], h[1:], rtol=1e-12)
    np.testing.assert_allclose(fw["o"], o, rtol=1e-12)
    np.testing.assert_allclose(module.loss(**arrays), 0.5 * np.sum((o - arrays["y"]) ** 2), rtol=1e-12)


def test_shape_mismatch_names_argument_expected_and_actual(exported):
    module = load(exported)
    arrays = sizes_arrays(4, 3, 2, 5)
    arrays["W_xh"] = np.zeros((4, 2))
    with pytest.raises(ValueError) as err:
        module.grad(**arrays)
    # d is given by W_xh and x alone, one against one: the message names both, each with its shapes.
    assert str(err.value) == ("W_xh or x has the wrong shape: they disagree on d (W_xh of shape (4, 2) for (n, d) "
                              "gives d = 2, x of shape (5, 3) for (T, d) gives d = 3)")
    arrays = sizes_arrays(4, 3, 2, 5)
    arrays["W_hh"] = np.zeros((3, 3))
    with pytest.raises(ValueError) as err:
        module.grad(**arrays)
    # W_hh comes first but is outvoted on n: it is the one named (before, W_hh fixed n = 3 and W_xh was blamed).
    assert str(err.value) == "W_hh: expected shape (n, n) with n = 4 (as in W_xh, of shape (4, 3), and 3 more), " \
        "got shape (3, 3)"
    arrays = sizes_arrays(4, 3, 2, 5)
    arrays["h0"] = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"h0: expected a 1-D array of shape \(n\), got shape \(4, 1\)"):
        module.loss(**arrays)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_bad_truncation_is_a_clear_error(exported, bad):
    module = load(exported)
    with pytest.raises(ValueError, match="truncate must be a positive integer"):
        module.grad(**sizes_arrays(2, 2, 2, 3), truncate=bad)
    with pytest.raises(ValueError, match="truncate_mode must be"):
        module.grad(**sizes_arrays(2, 2, 2, 3), truncate=2, truncate_mode="sliding")


def test_existing_file_needs_force(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("precious")
    with pytest.raises(ExportError, match="exists"):
        derivation("rnn").export(path)
    assert path.read_text() == "precious"
    derivation("rnn").export(path, force=True)
    assert "def grad(" in path.read_text()


def test_unwritable_path_leaves_nothing(tmp_path, monkeypatch):
    # A folder we may not write to (simulated: the tests may run as root, who can write anywhere).
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(ExportError, match="cannot write .*m.py: Permission denied"):
        derivation("rnn").export(tmp_path / "m.py")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(ExportError, match="does not exist"):
        derivation("rnn").export(tmp_path / "missing" / "m.py")


def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ExportError, match="No space left"):
        derivation("rnn").export(tmp_path / "m.py")
    assert list(tmp_path.iterdir()) == []


def test_generated_code_is_deterministic():
    assert derivation("rnn").module_source() == derivation("rnn").module_source()


def test_dense_module_matches_formula():
    dense = derivation("dense")
    module = dense.load_module()
    arrays = random_arguments(dense.program, dense.sizes.numeric)
    W, b, x, y = (arrays[k] for k in ("W", "b", "x", "y"))
    a = 1 / (1 + np.exp(-(W @ x + b)))
    dz = (a - y) * a * (1 - a)  # the textbook result for a sigmoid layer with squared loss
    got = module.grad(**arrays)
    np.testing.assert_allclose(got["W"], np.outer(dz, x), rtol=1e-12)
    np.testing.assert_allclose(got["b"], dz, rtol=1e-12)
    np.testing.assert_allclose(got["x"], W.T @ dz, rtol=1e-12)
