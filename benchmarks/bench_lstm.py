"""Benchmark: the exported LSTM gradient (NumPy and numba backends) against a hand-written NumPy LSTM BPTT
(`benchmarks/handwritten_lstm.py`), JAX and torch's nn.LSTM with autograd where installed, float64, one thread;
medians of interleaved rounds, ratios to the hand-written version (see `gated_bench.py`).

    python benchmarks/bench_lstm.py [--quick]
"""
from gated_bench import main

if __name__ == "__main__":
    main("lstm")
