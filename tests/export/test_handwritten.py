"""The benchmarks' hand-written NumPy baselines (benchmarks/handwritten_*.py) compute what the exports compute:
the same gradients at a small size, so a ratio of their times compares like with like. The exports are verified
three ways (tests/verify); the baselines are written independently of the generator."""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from symderive import derivation
from symderive.verify.matrix_checks import random_arguments

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_handwritten_baseline_equals_the_export(name):
    hand = importlib.import_module(f"handwritten_{name}")
    d = derivation(name)
    sizes = {s: {"H": 7, "n": 7, "d": 4, "q": 3, "T": 9}[str(s)] for s in (*d.program.dims(), *d.sizes.small)}
    a = random_arguments(d.program, sizes, seed=3)
    want, got = d.load_module().grad(**a), hand.grad(**a)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)
