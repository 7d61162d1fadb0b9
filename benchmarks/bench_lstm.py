"""Benchmark: the exported LSTM gradient against a hand-written NumPy LSTM BPTT (and torch's nn.LSTM
with autograd when installed), float64, one thread; medians of interleaved rounds, ratios.

    python benchmarks/bench_lstm.py [--quick]
"""
from harness import built, jax_call, numba_call, size_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import sys


import handwritten_lstm

SIZES = [dict(H=64, d=32, q=16, T=50), dict(H=256, d=128, q=16, T=100)]


def arrays(H, d, q, T, seed=0):
    from symderive import derivation
    from symderive.verify.matrix_checks import random_arguments

    d_ = derivation("lstm")
    sizes = {s: {"H": H, "d": d, "q": q, "T": T}[str(s)] for s in (*d_.program.dims(), *d_.sizes.small)}
    return random_arguments(d_.program, sizes, seed=seed)


def contenders(a):
    from symderive import derivation

    module = derivation("lstm").load_module()
    out = {"hand-written NumPy": lambda: handwritten_lstm.grad(**a), "symderive export": lambda: module.grad(**a)}
    out.update(built({"symderive export, numba": numba_call("lstm"), "JAX jit(value_and_grad)": jax_call("lstm")}, a))
    torch = torch_threads()
    if torch is not None:
        layer = torch.nn.LSTM(a["x"].shape[1], a["h0"].shape[0], dtype=torch.float64)
        p = {k: torch.tensor(a[k], requires_grad=True) for k in ("x", "h0", "c0", "W_hy", "b_y")}
        y = torch.tensor(a["y"])

        def run():
            hs, _ = layer(p["x"], (p["h0"][None], p["c0"][None]))
            loss = 0.5 * ((hs @ p["W_hy"].T + p["b_y"] - y) ** 2).sum()
            return torch.autograd.grad(loss, [*p.values(), *layer.parameters()])

        out["torch nn.LSTM autograd"] = run
    return out


def main():
    quick = "--quick" in sys.argv
    print(size_table(SIZES, arrays, contenders, rounds=5 if quick else 15, per_round=2 if quick else 5))


if __name__ == "__main__":
    main()
