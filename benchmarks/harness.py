"""Shared benchmark harness: BLAS/torch/XLA pinned to one thread (set before NumPy is imported),
contenders interleaved round by round, medians, and a Markdown table of ratios to a baseline."""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))


def measure(fns: dict, rounds: int, per_round: int, clock=time.perf_counter) -> dict:
    """Median seconds per call of each contender, measured in interleaved rounds (by ``clock``: the wall clock, or
    ``time.process_time``, the CPU time of this process)."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = clock()
            for _ in range(per_round):
                fn()
            times[name].append((clock() - start) / per_round)
    return {name: statistics.median(ts) for name, ts in times.items()}


def size_table(sizes: list, arrays, contenders, rounds: int, per_round: int, baseline="hand-written NumPy") -> str:
    """Measure the contenders at every size (a dict of size name -> value) and tabulate the ratios; below the
    table, the compile time of each contender compiled before it was timed (JAX), if any."""
    rows, compiled = [], []
    for size in sizes:
        calls = contenders(arrays(**size))
        label = ", ".join(f"{k}={v}" for k, v in size.items() if k != "q")
        rows.append((label, measure(calls, rounds, per_round)))
        compiled.append((label, calls))
    return "\n\n".join(part for part in (ratio_table(rows, baseline), compile_lines(compiled)) if part)


def ratio_table(rows: list, baseline: str) -> str:
    """rows: [(size label, {contender: median seconds})] -> Markdown table of ratios to the baseline."""
    names = list(rows[0][1])
    lines = ["| contender | " + " | ".join(label for label, _ in rows) + " |", "|---|" + "---|" * len(rows)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{m[name] / m[baseline]:.2f}x" for _, m in rows) + " |")
    lines.append(f"| ({baseline}, median time) | " + " | ".join(f"{m[baseline] * 1e3:.2f} ms" for _, m in rows) + " |")
    return "\n".join(lines)


def torch_threads():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def jax_call(name: str):
    """A contender factory for the recurrent model ``name``: arrays -> the JAX reference's timed call
    (``benchmarks/jax_recurrent.py``, compiled once, its compile time as ``compile_seconds``), or None
    when JAX is not installed."""
    def make(arrays):
        try:
            import jax_recurrent
        except ImportError:
            return None
        return jax_recurrent.timed_call(name, arrays)

    return make


def built(factories: dict, arrays: dict) -> dict:
    """The contenders of ``factories`` (label -> arrays -> call, or None when not installed) at these arrays;
    adding a contender to a table is one entry in its dict of factories."""
    calls = {label: make(arrays) for label, make in factories.items()}
    return {label: call for label, call in calls.items() if call is not None}


def compile_lines(compiled: list) -> str:
    """One line per contender compiled before it was timed: [(size label, {label: call})] -> its compile times."""
    seconds: dict = {}
    for label, calls in compiled:
        for name, call in calls.items():
            if hasattr(call, "compile_seconds"):
                seconds.setdefault(name, []).append(f"{call.compile_seconds:.2f} s at {label}")
    return "\n".join(f"{name}: compiled once before timing, {', '.join(times)}" for name, times in seconds.items())


def numba_call(name: str, batched=None):
    """A contender factory for the export of ``name`` with ``--backend numba``: arrays -> its timed call (a fresh
    module: the first call compiles, its time is ``compile_seconds``; then the calls that time each kernel's
    compiled loop against NumPy's, so that the timed calls run the chosen ones), or None without numba."""
    def make(arrays):
        import time

        try:
            import numba  # noqa: F401
        except ImportError:
            return None
        from symderive import derivation

        module = derivation(name).load_module(backend="numba")
        start = time.perf_counter()
        module.grad(**arrays)
        seconds = time.perf_counter() - start
        for _ in range(2 * module._TRIALS):
            module.grad(**arrays)

        def call():
            return module.grad(**arrays)

        call.compile_seconds = seconds
        return call

    return make
