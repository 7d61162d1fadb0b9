"""The numba backend (issue 18): the NumPy module with its loops over time steps compiled. It must equal the
NumPy backend to 1e-12 on every function (forward, loss, grad, adjoints), with truncation, with a minibatch,
for the built-in recurrent models and a user's own; models without a time loop are refused by name."""
import functools
import importlib.util
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symderive as sd
from symderive.errors import OptionError, SymderiveError
from symderive.export import backends
from symderive.export.numba_code import numba_source
from tests.export.test_batch_user import scalar_rnn, softmax_rnn

numba = pytest.importorskip("numba", reason="numba is not installed (pip install 'symderive[numba]')")

MODELS = {"rnn": lambda: sd.derivation("rnn"), "lstm": lambda: sd.derivation("lstm"),
          "gru": lambda: sd.derivation("gru"), "softmax_rnn": lambda: sd.derive(softmax_rnn()),
          "scalar_rnn": lambda: sd.derive(scalar_rnn())}
SIZES = {"n": 5, "H": 5, "d": 3, "q": 4, "T": 6}


@functools.cache
def modules(name):
    """The NumPy module and the numba module of a model, the numba one running its compiled loops (not NumPy's,
    which DISPATCH = "fastest" may pick)."""
    d = MODELS[name]()
    compiled = d.load_module(backend="numba")
    compiled.DISPATCH = "compiled"
    return d.load_module(), compiled


@pytest.fixture(scope="module", params=list(MODELS))
def pair(request):
    return modules(request.param)


def arguments(module, B=None, shared_state=True, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, axes in module.SHAPES.items():
        batched = B is not None and name in module.BATCH and not (shared_state and module.BATCH[name] == "shared")
        out[name] = rng.standard_normal(((B,) if batched else ()) + tuple(SIZES[a] for a in axes)) * 0.5
    if "q" in module.SHAPES["y"] and "softmax" in module.__doc__:
        out["y"] = np.abs(out["y"]) / np.abs(out["y"]).sum(axis=-1, keepdims=True)
    return out


def assert_same(got, want):
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12, err_msg=name)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("B, shared", [(None, True), (3, True), (3, False)], ids=["one", "batch", "batch-states"])
def test_numba_equals_numpy(pair, B, shared):
    numpy_module, numba_module = pair
    a = arguments(numpy_module, B, shared)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every kernel compiles: no fallback to Python
        for function in ("forward", "loss", "grad", "adjoints"):
            assert_same(getattr(numba_module, function)(**a), getattr(numpy_module, function)(**a))


@pytest.mark.parametrize("mode", ["blocks", "window"])
def test_numba_equals_numpy_truncated(pair, mode):
    numpy_module, numba_module = pair
    a = arguments(numpy_module, seed=1)
    assert_same(numba_module.grad(**a, truncate=2, truncate_mode=mode),
                numpy_module.grad(**a, truncate=2, truncate_mode=mode))


def test_the_fastest_loop_is_chosen_after_timing_both_and_every_call_is_right():
    d = sd.derivation("rnn")
    numpy_module, module = d.load_module(), d.load_module(backend="numba")
    a = arguments(module, seed=2)
    want = numpy_module.grad(**a)
    for _ in range(7):  # one call compiles, then each loop is timed twice: every call gives the gradient
        assert_same(module.grad(**a), want)
    kernels = [k for k in vars(module).values() if type(k).__name__ == "_Kernel"]
    timed = [times for k in kernels for times in k.times.values()]
    assert timed and all(len(t["compiled"]) == len(t["python"]) == module._TRIALS for t in timed)
    module.DISPATCH = "python"
    assert_same(module.grad(**a), want)


def test_the_time_loops_are_compiled():
    source = sd.derivation("lstm").module_source(backend="numba")
    module = types.ModuleType("m")
    exec(compile(source, "m", "exec"), module.__dict__)
    kernels = [k for k in vars(module).values() if type(k).__name__ == "_Kernel"]
    assert len(kernels) == 4  # forward and backward, each lean (grad) and full (forward, adjoints)
    module.grad(**arguments(module))
    assert all(isinstance(k.compiled, numba.core.dispatcher.Dispatcher) for k in kernels)
    assert "for t in range" not in source.split("class _Kernel")[1].split("def _forward_loop1")[0]


def test_models_without_a_time_loop_are_refused():
    with pytest.raises(SymderiveError, match="no loop over time steps"):
        sd.derivation("conv2d").module_source(backend="numba")


def test_unknown_backend_is_refused():
    with pytest.raises(OptionError, match="known backends: numpy, numba"):
        sd.derivation("rnn").module_source(backend="jax")


def test_without_numba_the_backend_is_refused(monkeypatch):
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(OptionError, match="pip install"):
        sd.derivation("rnn").module_source(backend="numba")


SYNTHETIC = '''import numpy as np


def carried(x):
    total = np.zeros(3)
    prev = 0.0
    for t in range(3):
        total[t] = prev + x[t]
        prev = total[t]
    return total


def read_after(x):
    for t in range(3):
        last = x[t] * 2.0
    return last


def unsupported(x):
    out = np.zeros(3)
    for t in range(3):
        out[t] = np.einsum("i,i->", x, x) + (1.0 if t > 0 else 0.0)
    return out
'''


def test_a_loop_that_carries_or_leaks_a_variable_stays_python_and_an_unknown_op_falls_back():
    module = types.ModuleType("synthetic")
    exec(compile(numba_source(SYNTHETIC), "synthetic", "exec"), module.__dict__)
    x = np.array([1.0, 2.0, 3.0])
    assert not hasattr(module, "_carried_loop1") and not hasattr(module, "_read_after_loop1")
    np.testing.assert_array_equal(module.carried(x), [1.0, 3.0, 6.0])
    assert module.read_after(x) == 6.0
    with pytest.warns(RuntimeWarning, match=r"numba could not compile loop 1 of unsupported; .*einsum"):
        np.testing.assert_array_equal(module.unsupported(x), [14.0, 15.0, 15.0])


def test_a_module_run_without_its_name_in_sys_modules_keeps_no_cache(tmp_path):
    """numba's cache of a module executed outside sys.modules cannot be loaded by a later import of the file: such
    a module caches nothing (an import of the file does)."""
    path = tmp_path / "rnn_loaded.py"
    sd.derivation("rnn").export(path, backend="numba")
    spec = importlib.util.spec_from_file_location("rnn_loaded", path)
    alone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(alone)
    assert alone._CACHE is False and "compiled by numba" in alone.__doc__
    sys.path.insert(0, str(tmp_path))
    try:
        imported = importlib.import_module("rnn_loaded")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("rnn_loaded", None)
    assert imported._CACHE is True


def test_cli_writes_a_numba_module_that_imports_from_its_file(tmp_path):
    out = tmp_path / "rnn_numba.py"
    run = [sys.executable, "-m", "symderive", "export", "rnn", "--backend", "numba", "-o", str(out)]
    assert subprocess.run(run, capture_output=True, text=True).returncode == 0
    code = ("import numpy as np, rnn_numba as m; from symderive import derivation; "
            "r = derivation('rnn').load_module(); rng = np.random.default_rng(0); "
            "z = {'n': 4, 'd': 3, 'q': 2, 'T': 5}; "
            "a = {k: rng.standard_normal([z[s] for s in v]) for k, v in m.SHAPES.items()}; "
            "m.DISPATCH = 'compiled'; g, w = m.grad(**a), r.grad(**a); "
            "print(max(float(abs(g[k] - w[k]).max()) for k in w))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 1e-12
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr  # never over a file without --force
    conv = subprocess.run([sys.executable, "-m", "symderive", "export", "conv2d", "--backend", "numba", "-o",
                           str(tmp_path / "conv.py")], capture_output=True, text=True)
    assert conv.returncode == 2 and "no loop over time steps" in conv.stderr
    assert not (tmp_path / "conv.py").exists()


def test_the_compiled_tanh_is_numpys_to_the_last_bits():
    module = sd.derivation("rnn").load_module(backend="numba")
    x = np.concatenate([np.linspace(-30, 30, 200_001), np.geomspace(1e-300, 0.7, 2000), [0.625, 22.0, 22.5, 1e300]])
    x = np.concatenate([x, -x])
    got, want = module._tanh(x), np.tanh(x)
    assert np.max(np.abs(got - want) / np.abs(want)) < 1e-15
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(module._tanh(special), np.tanh(special))
    assert np.signbit(module._tanh(-0.0))


def outcome(module, a, options):
    """The gradients, or the error's type and message."""
    try:
        with np.errstate(all="ignore"):
            return module.grad(**a, **options)
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["rnn", "lstm", "gru"]), n=st.integers(0, 3), d=st.integers(0, 2), q=st.integers(0, 2),
       T=st.integers(1, 4), B=st.sampled_from([None, 0, 2]), seed=st.integers(0, 2**32 - 1),
       special=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e300]),
       options=st.sampled_from([{}, {"truncate": 2}, {"truncate": 1, "truncate_mode": "window"}]))
def test_numba_equals_numpy_at_any_size_and_value(name, n, d, q, T, B, seed, special, options):
    """Sizes 0 and 1, an empty batch, infinite and NaN entries, truncation: the same gradients or the same
    error as the NumPy module."""
    numpy_module, numba_module = modules(name)
    rng, sizes = np.random.default_rng(seed), {"n": n, "H": n, "d": d, "q": q, "T": T}
    a = {k: rng.standard_normal(((B,) if B is not None and k in numpy_module.BATCH else ()) +
                                tuple(sizes[s] for s in v)) for k, v in numpy_module.SHAPES.items()}
    if special is not None:
        a["x"].flat[:1], a["W_hy"].flat[:1] = special, special
    want, got = outcome(numpy_module, a, options), outcome(numba_module, a, options)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=key)
