"""The unbatched benchmark of a gated cell's exported gradient (``bench_lstm.py``, ``bench_gru.py``): the export
(NumPy and numba) against a hand-written NumPy BPTT, JAX and torch's ``nn.LSTM``/``nn.GRU`` with autograd where
installed, float64, one thread; medians of interleaved rounds, ratios to the hand-written version."""
from harness import built, jax_call, numba_call, size_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import importlib
import sys

SIZES = [dict(H=64, d=32, q=16, T=50), dict(H=256, d=128, q=16, T=100)]
TORCH = {"lstm": "LSTM", "gru": "GRU"}


def arrays_of(name: str):
    """sizes -> random arguments of the export ``name`` at those sizes."""
    def arrays(H, d, q, T, seed=0):
        from symderive import derivation
        from symderive.verify.matrix_checks import random_arguments

        d_ = derivation(name)
        sizes = {s: {"H": H, "d": d, "q": q, "T": T}[str(s)] for s in (*d_.program.dims(), *d_.sizes.small)}
        return random_arguments(d_.program, sizes, seed=seed)

    return arrays


def torch_contender(name: str, a):
    """torch's nn.LSTM / nn.GRU on one sequence, the output layer and the summed squared error, autograd."""
    torch = torch_threads()
    if torch is None:
        return None
    layer = getattr(torch.nn, TORCH[name])(a["x"].shape[1], a["h0"].shape[0], dtype=torch.float64)
    states = ("h0", "c0") if name == "lstm" else ("h0",)
    p = {k: torch.tensor(a[k], requires_grad=True) for k in ("x", *states, "W_hy", "b_y")}
    y = torch.tensor(a["y"])

    def run():
        state = tuple(p[s][None] for s in states)
        hs, _ = layer(p["x"], state if name == "lstm" else state[0])
        loss = 0.5 * ((hs @ p["W_hy"].T + p["b_y"] - y) ** 2).sum()
        return torch.autograd.grad(loss, [*p.values(), *layer.parameters()])

    return run


def contenders_of(name: str):
    """arrays -> the timed calls: one entry per contender (those not installed left out)."""
    def contenders(a):
        from symderive import derivation

        hand, module = importlib.import_module(f"handwritten_{name}"), derivation(name).load_module()
        out = {"hand-written NumPy": lambda: hand.grad(**a), "symderive export": lambda: module.grad(**a)}
        out.update(built({"symderive export, numba": numba_call(name), "JAX jit(value_and_grad)": jax_call(name),
                          f"torch nn.{TORCH[name]} autograd": lambda a: torch_contender(name, a)}, a))
        return out

    return contenders


def main(name: str):
    quick = "--quick" in sys.argv
    print(size_table(SIZES, arrays_of(name), contenders_of(name), rounds=5 if quick else 15,
                     per_round=2 if quick else 5))
