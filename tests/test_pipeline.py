"""One Derivation type for both levels: built from a Program alone (the way a user's model will be),
with the generic document and default sizes; the index level's generic document."""
import dataclasses

import numpy as np
import sympy as sp

from symderive import derivation
from symderive.matrix.engine import default_sizes
from symderive.model.program import Assign, Program
from symderive.ops.nodes import SquaredNorm, T, TimeVar, sigma, t, tanh
from symderive.pipeline import derive

n, d = sp.symbols("n d", integer=True, positive=True)


def dense_program() -> Program:
    W, b = sp.MatrixSymbol("W", n, d), sp.MatrixSymbol("b", n, 1)
    x, y, z, a = (sp.MatrixSymbol(name, rows, 1) for name, rows in (("x", d), ("y", n), ("z", n), ("a", n)))
    return Program("mine", (Assign(z, W * x + b), Assign(a, tanh(z))), (W, b), (x, y),
                   sp.Rational(1, 2) * SquaredNorm(a - y))


def recurrent_program() -> Program:
    W, U = sp.MatrixSymbol("W", n, n), sp.MatrixSymbol("U", n, d)
    x, y, h = TimeVar("x", t, d), TimeVar("y", t, n), TimeVar("h", t, n)
    return Program("cell", (Assign(h, sigma(W * h.at(t - 1) + U * x)),), (W, U), (x, y),
                   sp.Rational(1, 2) * SquaredNorm(h - y), states={"h": sp.MatrixSymbol("h0", n, 1)})


def test_a_program_alone_makes_a_derivation():
    der = derive(dense_program())
    assert der.name == der.title == "mine" and not der.recurrent
    assert der.sizes.small == {d: 2, n: 2} and der.sizes.large == {d: 48, n: 48}
    text = der.to_latex("markdown")
    for heading in ("Model", "Adjoints, node by node", "Gradients"):
        assert f"## {heading}" in text
    assert r"\frac{\partial L}{\partial W}" in text and "mine" in der.module_source().splitlines()[0]
    report = der.verify()
    assert report.passed, report.table()
    assert [r.quantity for r in report.rows] == ["dL/dW", "dL/db", "dL/dx", "dL/dy", "all, large size"]


def test_a_recurrent_program_gets_sequence_lengths_and_truncation_checks():
    program = recurrent_program()
    assert default_sizes(program).numeric == {d: 6, n: 6, T: 8}
    der = derive(program, title="A sigmoid cell")
    assert der.recurrent and der.title == "A sigmoid cell"
    report = der.verify()
    assert report.passed, report.table()
    assert "all, truncated (window)" in [r.quantity for r in report.rows]
    module, rng = der.load_module(), np.random.default_rng(0)
    grads = module.grad(W=rng.standard_normal((3, 3)), U=rng.standard_normal((3, 2)), h0=np.zeros(3),
                        x=rng.standard_normal((5, 2)), y=rng.standard_normal((5, 3)))
    assert grads["W"].shape == (3, 3)  # any size: the module is not tied to the checked sizes


def test_an_index_derivation_without_prose_gets_its_gradients():
    conv = dataclasses.replace(derivation("conv2d"), build_document=None).to_latex()
    assert conv.count(r"\subsection*{Gradient with respect to") == 4
    pool = dataclasses.replace(derivation("pool2d"), build_document=None).to_latex("markdown")
    assert "## max: Gradient with respect to $X$" in pool and "## avg: Gradient with respect to $X$" in pool
