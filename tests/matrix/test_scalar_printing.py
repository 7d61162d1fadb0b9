"""How a 1 x 1 value prints: in LaTeX as a scalar (no transpose, products not ⊙, powers, 1), in NumPy
as a number per step (``*``, inner products as sums). The expected strings are written by hand."""
import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.matrix.latex_printer import to_latex
from symderive.matrix.numpy_printer import printer, slice_index, step_index
from symderive.model import times
from symderive.ops.nodes import Elementwise, SquaredNorm, TimeVar, hadamard, t

n = sp.Symbol("n", integer=True, positive=True)
a, y, w, c = (sp.MatrixSymbol(s, 1, 1) for s in "aywc")
v, u = sp.MatrixSymbol("v", n, 1), sp.MatrixSymbol("u", n, 1)
h, s = TimeVar("h", t, n), TimeVar("s", t, 1)

LATEX = [
    (w.T, "w"),
    ((a - y).T * w, r"\left(a - y\right) w"),
    (sp.OneMatrix(1, 1) - a, "1 - a"),
    ((sp.OneMatrix(1, 1) - a).doit(), "1 - a"),  # SymPy writes the 1 x 1 ones as the identity
    (hadamard(a, sp.OneMatrix(1, 1) - a), r"a \left(1 - a\right)"),  # a sigmoid derivative as written: s (1 - s)
    (sp.HadamardPower(a, 2), "a^{2}"),
    ((a - y) ** 2, r"\left(a - y\right)^{2}"),
    (SquaredNorm(a - y), r"\left(a - y\right)^{2}"),
    (w * a, "w a"),
    (sp.MatMul(w, sp.MatMul(2, hadamard(a, y))), "2 w a y"),
    (times(c, v), "c v"),
    (sp.OneMatrix(n, 1).T * v, r"\mathbf{1}^{\top} v"),
    (sp.DiagMatrix(sp.OneMatrix(1, 1) - a), r"\left(1 - a\right)"),
    (Elementwise("sigmoid", w * a + y), r"\sigma\left(w a + y\right)"),
    (v.T * u, r"v^{\top} u"),
]


@pytest.mark.parametrize("expr, expected", LATEX)
def test_a_scalar_prints_as_a_scalar(expr, expected):
    assert to_latex(expr) == expected


def test_a_scalar_is_never_bold():
    assert to_latex(times(c, v), bold=True) == r"c \mathbf{v}"
    assert to_latex(sp.OneMatrix(1, 1) - a, bold=True) == "1 - a"
    assert to_latex(sp.OneMatrix(n, 1) - v, bold=True) == r"\mathbf{1} - \mathbf{v}"


def base(name):
    return 1 if name in ("s",) else 0


NUMPY = [
    (s * w, "(s[t - 1] * w)", "(s[0:T] * w)"),
    (v.T * h, "np.sum(v * h[t], axis=-1)", "np.sum(v * h[1:T + 1], axis=-1)"),
    (times(s, v), "(s[t - 1] * v)", "((s[0:T])[..., None] * v)"),
    (SquaredNorm(s - w), "((s[t - 1] - w) ** 2)", "((s[0:T] - w) ** 2)"),
    ((s - w) ** 2, "((s[t - 1] - w) ** 2.0)", "((s[0:T] - w) ** 2.0)"),
    (sp.Identity(1), "1.0", "1.0"),
    (sp.ZeroMatrix(1, 1), "0.0", "0.0"),
]


@pytest.mark.parametrize("expr, one_step, all_steps", NUMPY)
def test_a_scalar_is_a_number_per_step_in_code(expr, one_step, all_steps):
    assert printer(step_index(base), base).doprint(expr) == one_step
    assert printer(slice_index(base, 1, sp.Symbol("T")), base, batched=True).doprint(expr) == all_steps


def test_the_printed_code_computes_the_scalar_multiple():
    T, size = 4, 3
    rng = np.random.default_rng(0)
    namespace = {"np": np, "s": rng.standard_normal(T), "v": rng.standard_normal(size), "T": T}
    code = printer(slice_index(base, 1, sp.Symbol("T")), base, batched=True).doprint(times(s, v))
    np.testing.assert_allclose(eval(code, namespace), np.outer(namespace["s"], namespace["v"]))


def test_the_derivative_of_a_square_has_no_first_power():
    r"""d/da (a - y)^2 / 2 = (a - y), not (a - y)^{1}."""
    text = sd.derive(model=[r"a = \sigma(w x + b)", r"L = \frac{1}{2}(a - y)^2"]).to_latex()
    assert r"\left(a - y\right)" in text and "^{1}" not in text
