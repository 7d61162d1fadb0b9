"""The softmax built-in: the Jacobian read off the engine's rule against sympy's Jacobian of softmax written out,
the VJP against sympy.diff, cross-entropy collapsing to s - y, and the document."""
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.derivations import softmax
from symderive.matrix.evaluate import SYMPY, Env, evaluate

GOLDEN = Path(__file__).parent.parent / "golden"
SIZE = 3


def explicit_softmax(z: sp.Matrix) -> sp.Matrix:
    total = sum(sp.exp(v) for v in z)
    return z.applyfunc(lambda v: sp.exp(v) / total)


def test_the_jacobian_is_diag_s_minus_s_s_transpose():
    # Source: sympy's Jacobian of softmax written out entry by entry.
    z = sp.Matrix(SIZE, 1, lambda i, j: sp.Symbol(f"z{i}", real=True))
    s = explicit_softmax(z)
    J = softmax.jacobian(sd.derivation("softmax"))
    assert J == sp.DiagMatrix(sp.MatrixSymbol("s", softmax.n, 1)) - sp.MatMul(sp.MatrixSymbol("s", softmax.n, 1),
                                                                              sp.MatrixSymbol("s", softmax.n, 1).T)
    read = evaluate(J, Env({"s": s}, {softmax.n: SIZE}, SYMPY))
    assert all(sp.simplify(e) == 0 for e in read - s.jacobian(z))


def test_the_identity_the_jacobian_is_read_with():
    # s ⊙ (g - (g^T s) 1) = (diag(s) - s s^T) g for any vectors s, g (explicit entries).
    s = sp.Matrix(SIZE, 1, lambda i, j: sp.Symbol(f"s{i}"))
    g = sp.Matrix(SIZE, 1, lambda i, j: sp.Symbol(f"g{i}"))
    left = s.multiply_elementwise(g - (g.T * s)[0, 0] * sp.ones(SIZE, 1))
    assert sp.expand(left - (sp.diag(*s) - s * s.T) * g) == sp.zeros(SIZE, 1)


def test_a_vjp_that_is_not_the_softmax_rule_is_not_read_as_its_jacobian():
    g, s = sp.MatrixSymbol("g", softmax.n, 1), sp.MatrixSymbol("s", softmax.n, 1)
    assert softmax.as_jacobian_product(sd.hadamard(s, g), g, s) is None


def test_cross_entropy_collapses_to_s_minus_y():
    text = sd.derivation("softmax").to_latex("markdown")
    assert r"\left(\mathbf{1}^{\top} y\right) \operatorname{softmax}\left(z\right) - y" in text
    assert "$$\n = s - y\n$$" in text
    module = sd.derive(softmax.cross_entropy_model()).load_module()
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal(5), np.eye(5)[2]
    s = np.exp(z) / np.exp(z).sum()
    assert np.allclose(module.grad(z=z, y=y)["z"], s - y, rtol=1e-12, atol=1e-14)


def test_verify_passes_and_the_row_layout_renders():
    d = sd.derivation("softmax")
    assert d.verify().passed
    assert r"\frac{\partial s}{\partial z}" in d.to_latex("markdown", layout="row", lang="ko")


@pytest.mark.parametrize("fmt,ext", [("markdown", "md"), ("tex", "tex")])
def test_golden(fmt, ext):
    # Reviewed snapshot; refresh after an intended change with `make golden`.
    assert sd.derivation("softmax").to_latex(fmt) == (GOLDEN / f"softmax.{ext}").read_text(encoding="utf-8")
