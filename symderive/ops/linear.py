"""SymPy's own matrix algebra as model nodes: sums, products, transposes, Hadamard products and powers,
``diag`` and the constant matrices. Their vector-Jacobian rules, row-convention transposes and reference
evaluations are registered here, one block per node type; their printing is the printers'
``_print_<Class>`` methods (SymPy's dispatch by class name)."""
from __future__ import annotations

from functools import reduce

import sympy as sp
from sympy import HadamardPower, HadamardProduct, MatAdd, MatMul, Transpose

from symderive.ops.nodes import hadamard
from symderive.ops.registry import defvjp, evaluate_node, row_form, same_size, shape_conflict, shape_text

SUM = r"y = a + b \;\Rightarrow\; \bar a = \bar y,\ \bar b = \bar y"

# ---------------------------------------------------------------------------------------------
# Leaves and constants.


@row_form.register
def _row_symbol(e: sp.MatrixSymbol):
    rows, cols = e.shape
    return sp.MatrixSymbol(e.name, cols, rows)


@evaluate_node.register
def _evaluate_symbol(e: sp.MatrixSymbol, ev):
    return ev.env[e.name]


@row_form.register(sp.OneMatrix)
@row_form.register(sp.ZeroMatrix)
def _row_constant(e):
    return type(e)(e.shape[1], e.shape[0])


@row_form.register
def _row_identity(e: sp.Identity):
    return e


@evaluate_node.register
def _evaluate_ones(e: sp.OneMatrix, ev):
    return ev.backend.full((ev.size(e.rows), ev.size(e.cols)), 1)


@evaluate_node.register
def _evaluate_zeros(e: sp.ZeroMatrix, ev):
    return ev.backend.full((ev.size(e.rows), ev.size(e.cols)), 0)


@evaluate_node.register
def _evaluate_identity(e: sp.Identity, ev):
    return ev.backend.eye(ev.size(e.rows))


# ---------------------------------------------------------------------------------------------
# Sums.


@defvjp(MatAdd, SUM)
def _matadd_vjp(node, g, ans, functions):
    return [(a, g) for a in node.args]


@defvjp(sp.Add, SUM)
def _add_vjp(node, g, ans, functions):
    return [(a, g) for a in node.args if not a.is_number]


@row_form.register
def _row_matadd(e: MatAdd):
    return MatAdd(*(row_form(a) for a in e.args))


@row_form.register
def _row_add(e: sp.Add):
    return e.func(*(row_form(a) for a in e.args))


def unequal_shapes(args) -> str | None:
    """``"n x 1 and d x 1"`` for the first operand whose shape differs from the first one's, or None."""
    first = args[0].shape
    other = next((a.shape for a in args[1:] if not all(map(same_size, a.shape, first))), None)
    return None if other is None else f"{shape_text(first)} and {shape_text(other)}"


@shape_conflict.register
def _matadd_shapes(e: MatAdd):
    unequal = unequal_shapes(e.args)
    return unequal and f"cannot add {unequal}"


@evaluate_node.register
def _evaluate_add(e: sp.Add, ev):  # MatAdd too (a subclass of Add)
    return reduce(lambda a, c: a + c, map(ev, e.args))


# ---------------------------------------------------------------------------------------------
# Products.


@defvjp(MatMul, r"y = A x \;\Rightarrow\; \bar A = \bar y\, x^\top,\ \bar x = A^\top \bar y")
def _matmul_vjp(node, g, ans, functions):
    coeff, factors = node.as_coeff_matrices()
    shares = []
    for i, f in enumerate(factors):
        left = MatMul(coeff, *factors[:i]).doit() if i or coeff != 1 else None
        right = MatMul(*factors[i + 1:]).doit() if i + 1 < len(factors) else None
        share = g
        if left is not None:
            share = left.T * share if getattr(left, "is_Matrix", False) else left * share
        if right is not None:
            share = share * right.T
        shares.append((f, share.doit()))
    return shares


@defvjp(sp.Mul, r"y = c\,a \;\Rightarrow\; \bar a = c\,\bar y")
def _mul_vjp(node, g, ans, functions):
    shares = []
    for i, f in enumerate(node.args):
        if not f.is_number:
            others = sp.Mul(*(node.args[:i] + node.args[i + 1:]))
            shares.append((f, others * g))
    return shares


@row_form.register
def _row_matmul(e: MatMul):
    coeff, factors = e.as_coeff_matrices()
    return MatMul(row_form(coeff), *(row_form(f) for f in reversed(factors)))


@row_form.register
def _row_mul(e: sp.Mul):
    return e.func(*(row_form(a) for a in e.args))


@row_form.register
def _row_pow(e: sp.Pow):  # a power of a scalar (a sum of entries, a norm)
    return e.func(*(row_form(a) for a in e.args))


@shape_conflict.register
def _matmul_shapes(e: MatMul):
    factors = e.as_coeff_matrices()[1]
    for a, b in zip(factors, factors[1:]):
        if not same_size(a.shape[1], b.shape[0]):
            return f"cannot multiply {shape_text(a.shape)} by {shape_text(b.shape)}"
    return None


@shape_conflict.register
def _matpow_shapes(e: sp.MatPow):
    rows, cols = e.base.shape
    if same_size(rows, cols):
        return None
    return (f"{e.base} * {e.base} multiplies {shape_text(e.base.shape)} by {shape_text(e.base.shape)} "
            f"(* and @ are matrix products; the elementwise product is hadamard)")


@evaluate_node.register
def _evaluate_matmul(e: MatMul, ev):
    coeff, factors = e.as_coeff_matrices()
    return ev(coeff) * reduce(ev.backend.matmul, map(ev, factors))


@evaluate_node.register
def _evaluate_mul(e: sp.Mul, ev):
    return reduce(lambda a, c: a * c, map(ev, e.args))


# ---------------------------------------------------------------------------------------------
# Transposes and diag.


@defvjp(Transpose, r"y = A^\top \;\Rightarrow\; \bar A = \bar y^\top")
def _transpose_vjp(node, g, ans, functions):
    return [(node.arg, g.T)]


@row_form.register
def _row_transpose(e: Transpose):
    return Transpose(row_form(e.arg))


@evaluate_node.register
def _evaluate_transpose(e: Transpose, ev):
    return ev(e.arg).T


@row_form.register
def _row_diag(e: sp.DiagMatrix):
    return sp.DiagMatrix(row_form(e.args[0]))


@evaluate_node.register
def _evaluate_diag(e: sp.DiagMatrix, ev):
    return ev.backend.diag(ev(e.args[0]))


# ---------------------------------------------------------------------------------------------
# Hadamard products and powers.


@defvjp(HadamardProduct, r"y = a \odot b \;\Rightarrow\; \bar a = \bar y \odot b,\ \bar b = \bar y \odot a")
def _hadamard_vjp(node, g, ans, functions):
    args = node.args
    return [(a, hadamard(g, *(args[:i] + args[i + 1:]))) for i, a in enumerate(args)]


@row_form.register
def _row_hadamard(e: HadamardProduct):
    return HadamardProduct(*(row_form(a) for a in e.args))


@shape_conflict.register
def _hadamard_shapes(e: HadamardProduct):
    unequal = unequal_shapes(e.args)
    return unequal and f"cannot multiply entrywise {unequal}"


@evaluate_node.register
def _evaluate_hadamard(e: HadamardProduct, ev):
    return reduce(ev.backend.hadamard, map(ev, e.args))


@defvjp(HadamardPower, r"y = a^{\circ p} \;\Rightarrow\; \bar a = p\, \bar y \odot a^{\circ (p-1)}")
def _hadamard_power_vjp(node, g, ans, functions):
    base, p = node.args
    power = base if p - 1 == 1 else HadamardPower(base, p - 1).doit()  # a^{∘1} is a
    return [(base, MatMul(p, hadamard(g, power)).doit())]


@row_form.register
def _row_hadamard_power(e: HadamardPower):
    return HadamardPower(row_form(e.base), e.exp)


@evaluate_node.register
def _evaluate_hadamard_power(e: HadamardPower, ev):
    return ev.backend.power(ev(e.base), e.exp)
