"""Benchmark: the exported RNN gradient against a hand-written NumPy BPTT (and JAX, torch when installed).

Prints a Markdown table of median-time ratios to the hand-written version (lower is faster), all
measured in this one run with BLAS pinned to one thread, contenders interleaved round by round so
that a noisy machine slows them alike. Also: the time to derive and generate the code (independent of
the sizes), and the wall time of `symderive verify rnn`.

    python benchmarks/bench_rnn.py [--quick]
"""
from harness import size_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import statistics
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


def contenders(a):
    from symderive import derivation

    module = derivation("rnn").load_module()
    out = {"hand-written NumPy": lambda: handwritten_rnn.grad(**a), "symderive export": lambda: module.grad(**a)}
    out.update(jax_contender(a))
    out.update(torch_contender(a))
    return out


def jax_contender(a):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)

    def loss(p):
        def step(h, xt):
            h = jnp.tanh(p["W_hh"] @ h + p["W_xh"] @ xt + p["b_h"])
            return h, h
        _, hs = jax.lax.scan(step, p["h0"], p["x"])
        return 0.5 * jnp.sum((hs @ p["W_hy"].T + p["b_y"] - p["y"]) ** 2)

    f = jax.jit(jax.value_and_grad(loss))
    p = {k: jnp.asarray(v) for k, v in a.items()}
    jax.block_until_ready(f(p))
    return {"JAX jit(value_and_grad)": lambda: jax.block_until_ready(f(p))}


def torch_contender(a):
    torch = torch_threads()
    if torch is None:
        return {}
    p = {k: torch.tensor(v, requires_grad=True) for k, v in a.items()}

    def run():
        h, hs = p["h0"], []
        xw = p["x"] @ p["W_xh"].T + p["b_h"]
        for t in range(xw.shape[0]):
            h = torch.tanh(xw[t] + p["W_hh"] @ h)
            hs.append(h)
        o = torch.stack(hs) @ p["W_hy"].T + p["b_y"]
        return torch.autograd.grad(0.5 * ((o - p["y"]) ** 2).sum(), list(p.values()))

    return {"torch autograd": run}


def derive_time(repeats=5):
    """(import, derive, render + generate code) seconds in a fresh process, medians over repeats."""
    code = ("import time; t0 = time.perf_counter(); from symderive.derivations import rnn; t1 = time.perf_counter(); "
            "d = rnn.build(); d.backward; t2 = time.perf_counter(); d.module_source(); t3 = time.perf_counter(); "
            "print(t1 - t0, t2 - t1, t3 - t2)")
    runs = [list(map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout.split())) for _ in range(repeats)]
    return [statistics.median(r[i] for r in runs) for i in range(3)]


def verify_time():
    import time

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "symderive.cli", "verify", "rnn"], capture_output=True, check=True)
    return time.perf_counter() - start


def main():
    quick = "--quick" in sys.argv
    print(size_table(SIZES, arrays, contenders, rounds=5 if quick else 21, per_round=3 if quick else 10))
    imports, derive, generate = derive_time(3 if quick else 5)
    print(f"\nfresh process, medians: import {imports:.2f} s, derive {derive:.2f} s, "
          f"render + generate code {generate:.2f} s (derive + generate: {derive + generate:.2f} s, any n and T)")
    print(f"`symderive verify rnn` wall time: {verify_time():.1f} s")


if __name__ == "__main__":
    main()
