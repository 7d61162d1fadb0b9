"""Symbols, values and a printer for testing node printers one by one."""
import numpy as np
import pytest
import sympy as sp

from symderive.ops.nodes import TimeVar, t
from symderive.verify.torch_printer import TorchPrinter

n, d = sp.symbols("n d", integer=True, positive=True)
A, B, V = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("B", n, n), sp.MatrixSymbol("V", n, d)
v, u, w = sp.MatrixSymbol("v", n, 1), sp.MatrixSymbol("u", n, 1), sp.MatrixSymbol("w", d, 1)
s = sp.MatrixSymbol("s", 1, 1)
h = TimeVar("h", t, n)
SIZES = {n: 3, d: 2}
PRINTER = TorchPrinter({"names": {k: k for k in ("A", "B", "V", "v", "u", "w", "s", "h")},
                        "sizes": {"n": "n", "d": "d"}})


def node_values() -> tuple[dict, dict]:
    """Random arrays for the symbols, and h_1, h_2 by (name, step)."""
    rng = np.random.default_rng(4)
    shapes = {"A": (3, 3), "B": (3, 3), "V": (3, 2), "v": (3, 1), "u": (3, 1), "w": (2, 1), "s": (1, 1)}
    arrays = {k: rng.standard_normal(shape) for k, shape in shapes.items()}
    steps = {("h", 1): rng.standard_normal((3, 1)), ("h", 2): rng.standard_normal((3, 1))}
    return arrays, steps


def run_printed(expr, values):
    """The printed code of ``expr`` run on torch tensors of ``values`` (at t = 2), and the code."""
    torch = pytest.importorskip("torch", reason="torch not installed (optional external reference)")
    arrays, steps = values
    namespace = {"torch": torch, "n": 3, "d": 2, "t": 2,
                 **{k: torch.tensor(a) for k, a in arrays.items()},
                 "h": {step: torch.tensor(steps[("h", step)]) for step in (1, 2)}}
    code = PRINTER.doprint(expr)
    return np.asarray(eval(compile(code, "<printed>", "eval"), namespace)), code  # our own printed code
