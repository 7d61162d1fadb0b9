"""Powers of scalars.

* ``MatPow`` of a 1 x 1 value, ``(a - y)^2`` (SymPy writes ``a**2`` of a 1 x 1 matrix as a matrix power,
  which for a 1 x 1 matrix is the power of its entry); a power of a larger matrix has no rule;
* ``Pow`` of a scalar expression (``||v||^4``); a power of a size (``1/T`` in a mean over steps) is a constant.
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import ModelError
from symderive.ops.registry import defvjp, evaluate_node, row_form


def scalar_power(base, p):
    """``base^p`` of a 1 x 1 ``base`` as an entrywise power (``base`` itself for p = 1)."""
    return base if p == 1 else sp.HadamardPower(base, p)


@defvjp(sp.MatPow, r"y = a^{p} \;\Rightarrow\; \bar a = p\, a^{p-1}\, \bar y \text{ (a scalar } a)")
def _matpow_vjp(node, g, ans, functions):
    base, p = node.args
    if tuple(base.shape) != (1, 1):
        raise ModelError(f"{node}: a power of a {base.shape[0]} x {base.shape[1]} matrix has no derivative rule "
                         "(powers of scalars only; hadamard(a, a) is the entrywise square)")
    return [(base, sp.MatMul(p, scalar_power(base, p - 1), g).doit())]  # 1 x 1: the product is the scalar one


@row_form.register
def _row_matpow(e: sp.MatPow):
    return sp.MatPow(row_form(e.base), e.exp)


@evaluate_node.register
def _evaluate_matpow(e: sp.MatPow, ev):
    if tuple(e.base.shape) != (1, 1):
        raise ModelError(f"{e}: only powers of scalars (1 x 1) are evaluated")
    return ev.backend.power(ev(e.base), e.exp)


@evaluate_node.register
def _evaluate_pow(e: sp.Pow, ev):
    """A power of sizes (the ``1/m`` of a mean over m entries) is a number at the sizes."""
    if e.atoms(sp.MatrixExpr) or not e.free_symbols <= set(ev.env.sizes):
        raise TypeError(f"cannot evaluate {type(e).__name__}: {e} (only powers of sizes are numbers)")
    return ev.backend.scalar(e.xreplace(ev.env.sizes))


@defvjp(sp.Pow, r"y = a^{p} \;\Rightarrow\; \bar a = p\, a^{p-1}\, \bar y")
def _pow_vjp(node, g, ans, functions):
    base, p = node.args
    if not base.atoms(sp.MatrixExpr) or not p.is_number:
        return []  # a size such as 1/T is a constant
    return [(base, p * base ** (p - 1) * g)]
