"""Benchmark: the exported pre-norm Transformer block (forward and every gradient) against a hand-written NumPy
block and torch's ``nn.TransformerEncoderLayer`` with autograd, float64, one process, one thread; medians of
interleaved rounds, ratios measured in the same run, by the wall clock and by the process's CPU time (on a shared
machine the wall clock also counts the time other processes hold the CPU; with one thread each, CPU time is the work).

    python benchmarks/bench_transformer.py [--quick] [--check]

``--check`` first compares the three contenders' gradients with torch's.
"""
from harness import measure, ratio_table, torch_threads  # noqa: I001  (pins threads before NumPy)

import sys
import time

import numpy as np

import handwritten_transformer

SIZES = [dict(N=128, D=256, heads=4, F=1024), dict(N=512, D=256, heads=4, F=1024)]
BASELINE = "torch TransformerEncoderLayer autograd"


def torch_layer(torch, D, heads, F, seed=0):
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(d_model=D, nhead=heads, dim_feedforward=F, dropout=0.0,
                                             activation="relu", batch_first=True, norm_first=True,
                                             dtype=torch.float64)
    with torch.no_grad():  # LayerNorm starts at gamma = 1, beta = 0: move them so their gradients mean something
        for norm in (layer.norm1, layer.norm2):
            norm.weight.add_(0.1 * torch.randn_like(norm.weight))
            norm.bias.add_(0.1 * torch.randn_like(norm.bias))
    return layer


def torch_run(torch, layer, X, G, causal=False):
    """forward + every gradient (X and each parameter) by autograd."""
    x = torch.tensor(X, requires_grad=True)
    g = torch.tensor(G)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(X.shape[0], dtype=torch.float64) if causal else None

    def run():
        z = layer(x[None], src_mask=mask, is_causal=causal)[0]
        return torch.autograd.grad((z * g).sum(), [x, *layer.parameters()])

    return run


def arguments(module, layer, N, D, seed=1):
    rng = np.random.default_rng(seed)
    X, G = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    return {"X": X, "G": G, **module.from_torch_layout(layer.state_dict())}


def contenders(torch, module, layer, a, heads):
    return {BASELINE: torch_run(torch, layer, a["X"], a["G"]),
            "hand-written NumPy": lambda: handwritten_transformer.grad(**a, heads=heads),
            "symderive export": lambda: module.grad(**a, heads=heads)}


def check(torch, module, layer, a, heads):
    """Max error of every gradient, hand-written and export, against torch autograd (relative to the gradient's
    largest entry where that is above 1: b_k's gradient is zero up to rounding, softmax being shift-invariant)."""
    names = [n for n in module.SHAPES if n != "G"]
    by_torch = dict(zip(["X", *(n for n, _ in layer.named_parameters())],
                        (t.numpy() for t in torch_run(torch, layer, a["X"], a["G"])())))
    reference = {n: by_torch[n] for n in ("X",)}
    for name, value in module.from_torch_layout(by_torch).items():
        reference[name] = value
    for label, got in (("hand-written", handwritten_transformer.grad(**a, heads=heads)),
                       ("export", module.grad(**a, heads=heads))):
        worst = max(np.max(np.abs(got[n] - reference[n])) / max(np.max(np.abs(reference[n])), 1.0) for n in names)
        print(f"{label}: max error against torch over {len(names)} gradients (relative where |g| > 1): {worst:.2e}")


def main():
    quick = "--quick" in sys.argv
    torch = torch_threads()
    from symderive import derivation

    module = derivation("transformer").load_module()
    wall, cpu = [], []
    for size in SIZES:
        layer = torch_layer(torch, size["D"], size["heads"], size["F"])
        a = arguments(module, layer, size["N"], size["D"])
        if "--check" in sys.argv:
            check(torch, module, layer, a, size["heads"])
        label, fns = ", ".join(f"{k}={v}" for k, v in size.items()), contenders(torch, module, layer, a, size["heads"])
        rounds, per_round = (5, 1) if quick else (15, 3)
        wall.append((label, measure(fns, rounds, per_round)))
        cpu.append((label, measure(fns, rounds, per_round, clock=time.process_time)))
    print("wall clock:\n" + ratio_table(wall, BASELINE) + "\n\nCPU time:\n" + ratio_table(cpu, BASELINE))


if __name__ == "__main__":
    main()
