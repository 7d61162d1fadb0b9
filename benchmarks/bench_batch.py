"""Benchmark: minibatches (B=32, and one sequence for reference) of the exported RNN, LSTM and GRU gradients
against torch.nn.RNN/LSTM/GRU (batch_first=True) with autograd and, where installed, JAX's jit(value_and_grad)
over lax.scan (``jax_recurrent.py``, compiled once before timing, its compile time on its own line), float64,
one thread; medians of interleaved rounds, ratio to torch.

    python benchmarks/bench_batch.py [--quick] [rnn] [lstm] [gru]
"""
from harness import built, compile_lines, jax_call, measure, numba_call, ratio_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import sys

import numpy as np

B = 32
# B=None: one sequence (unbatched), as a reference point for the minibatches
SIZES = [dict(B=None, n=64, d=32, q=16, T=50), dict(B=B, n=64, d=32, q=16, T=50), dict(B=B, n=256, d=128, q=16, T=100)]
MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def batch_arrays(name, B, n, d, q, T, seed=0):
    """Random arguments of the export at these sizes, x and y with a batch axis B, h0/c0 one per example
    (B=None: one sequence)."""
    from symderive import derivation
    from symderive.verify.matrix_checks import random_arguments

    der = derivation(name)
    named = {"n": n, "H": n, "d": d, "q": q, "T": T}
    sizes = {s: named[str(s)] for s in (*der.program.dims(), *der.sizes.small)}
    one = random_arguments(der.program, sizes, seed=seed)
    rng = np.random.default_rng(seed)
    kinds = der.load_module().BATCH if B else ()
    return {k: rng.standard_normal((B, *v.shape)) * 0.5 if k in kinds else v for k, v in one.items()}


def torch_run(torch, name, a):
    """torch.nn.<RNN|LSTM|GRU>(batch_first=True), output layer and the summed squared error, autograd."""
    n, d = a["W_hy"].shape[1], a["x"].shape[-1]
    layer = getattr(torch.nn, MODULES[name])(d, n, batch_first=True, dtype=torch.float64)
    p = {k: torch.tensor(a[k], requires_grad=True) for k in ("x", "h0", "W_hy", "b_y", *(("c0",) * (name == "lstm")))}
    y = torch.tensor(a["y"])
    weights = [*p.values(), *layer.parameters()]

    def run():
        state = (p["h0"][None], p["c0"][None]) if name == "lstm" else p["h0"][None]
        hs, _ = layer(p["x"], state)
        loss = 0.5 * ((hs @ p["W_hy"].T + p["b_y"] - y) ** 2).sum()
        return torch.autograd.grad(loss, weights)

    return run


def export_call(name: str):
    from symderive import derivation

    module = derivation(name).load_module()
    return lambda a: lambda: module.grad(**a)


def torch_call(name: str):
    torch = torch_threads()
    return lambda a: None if torch is None else torch_run(torch, name, a)


def contenders(name: str) -> dict:
    """label -> (arrays -> the call to time, or None when its library is not installed): one entry per contender."""
    return {
        "symderive export": export_call(name),
        "symderive export, numba": numba_call(name),
        f"torch nn.{MODULES[name]} autograd": torch_call(name),
        "JAX jit(value_and_grad)": jax_call(name),
    }


def model_table(name: str, quick: bool) -> str:
    """The ratios to torch (to the export without torch) at every size, and the compile times."""
    factories, rows, compiled = contenders(name), [], []
    for size in SIZES:
        calls = built(factories, batch_arrays(name, **size))
        label = ", ".join(f"{k}={v}" for k, v in size.items() if k != "q").replace("B=None", "unbatched")
        rows.append((label, measure(calls, rounds=5 if quick else 11, per_round=2 if quick else 5)))
        compiled.append((label, calls))
    torch_label = f"torch nn.{MODULES[name]} autograd"
    baseline = torch_label if torch_label in rows[0][1] else "symderive export"
    heading = f"\n{name}, one sequence and B={B}, float64, one thread; ratio to {baseline}:"
    return "\n\n".join(part for part in (heading, ratio_table(rows, baseline), compile_lines(compiled)) if part)


def main():
    quick = "--quick" in sys.argv
    chosen = [name for name in MODULES if name in sys.argv] or list(MODULES)
    for name in chosen:
        print(model_table(name, quick))


if __name__ == "__main__":
    main()
