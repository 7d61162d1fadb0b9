"""Benchmark: the exported GRU gradient (NumPy and numba backends) against a hand-written NumPy GRU BPTT
(`benchmarks/handwritten_gru.py`), JAX and torch's nn.GRU with autograd where installed, float64, one thread;
medians of interleaved rounds, ratios to the hand-written version (see `gated_bench.py`).

    python benchmarks/bench_gru.py [--quick]
"""
from gated_bench import main

if __name__ == "__main__":
    main("gru")
