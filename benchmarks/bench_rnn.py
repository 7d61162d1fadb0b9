"""Benchmark: the exported RNN gradient against a hand-written NumPy BPTT (and JAX, torch when installed).

Prints a Markdown table of median-time ratios to the hand-written version (lower is faster), all
measured in this one run with BLAS pinned to one thread, contenders interleaved round by round so
that a noisy machine slows them alike; JAX's compile time (once, before timing) on its own line. Also: the wall
time of `symderive verify rnn` (the time to derive and generate the code: `bench_derive.py`).

    python benchmarks/bench_rnn.py [--quick]
"""
from harness import built, jax_call, numba_call, size_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import subprocess
import sys

import numpy as np

import handwritten_rnn

SIZES = [dict(n=64, d=32, q=16, T=50), dict(n=256, d=128, q=16, T=100)]


def arrays(n, d, q, T, seed=0):
    rng = np.random.default_rng(seed)
    return {"W_hh": rng.standard_normal((n, n)) / np.sqrt(n), "W_xh": rng.standard_normal((n, d)) / np.sqrt(d),
            "b_h": 0.1 * rng.standard_normal(n), "W_hy": rng.standard_normal((q, n)) / np.sqrt(n),
            "b_y": 0.1 * rng.standard_normal(q), "h0": np.zeros(n), "x": rng.standard_normal((T, d)),
            "y": rng.standard_normal((T, q))}


def export_call(a):
    from symderive import derivation

    module = derivation("rnn").load_module()
    return lambda: module.grad(**a)


def contenders(a):
    """The timed calls at the arrays ``a``: one entry of CONTENDERS each (a factory of None when not installed)."""
    return built(CONTENDERS, a)


def torch_contender(a):
    torch = torch_threads()
    if torch is None:
        return None
    p = {k: torch.tensor(v, requires_grad=True) for k, v in a.items()}

    def run():
        h, hs = p["h0"], []
        xw = p["x"] @ p["W_xh"].T + p["b_h"]
        for t in range(xw.shape[0]):
            h = torch.tanh(xw[t] + p["W_hh"] @ h)
            hs.append(h)
        o = torch.stack(hs) @ p["W_hy"].T + p["b_y"]
        return torch.autograd.grad(0.5 * ((o - p["y"]) ** 2).sum(), list(p.values()))

    return run


# label -> (arrays -> the call to time, or None when its library is not installed)
CONTENDERS = {
    "hand-written NumPy": lambda a: lambda: handwritten_rnn.grad(**a),
    "symderive export": export_call,
    "symderive export, numba": numba_call("rnn"),
    "JAX jit(value_and_grad)": jax_call("rnn"),
    "torch autograd": torch_contender,
}


def verify_time():
    import time

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "symderive.cli", "verify", "rnn"], capture_output=True, check=True)
    return time.perf_counter() - start


def main():
    quick = "--quick" in sys.argv
    print(size_table(SIZES, arrays, contenders, rounds=5 if quick else 21, per_round=3 if quick else 10))
    print(f"\n`symderive verify rnn` wall time: {verify_time():.1f} s")


if __name__ == "__main__":
    main()
