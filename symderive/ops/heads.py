r"""Attention heads: the products of multi-head attention, each head a block of columns, registered once.

A matrix ``A`` of ``N x D`` with ``H`` heads is ``H`` blocks of ``E = D / H`` columns, ``A = [A_1 \cdots A_H]``.
Per-head score matrices are stacked over the heads, ``S = [S_1; \dots; S_H]`` (``H N x M``), so that a row-wise
softmax of ``S`` is the softmax of every head's rows. Three products close under reverse mode:

* :class:`HeadStack`    -- ``\operatorname{stack}_h(A_h B_h^\top)``, ``H N x M`` (the scores ``Q_h K_h^\top``);
* :class:`HeadConcat`   -- ``\operatorname{concat}_h(P_h B_h)``, ``N x D`` (the heads' outputs ``P_h V_h``);
* :class:`HeadConcatT`  -- ``\operatorname{concat}_h(P_h^\top A_h)``, ``M x D``.

Their vector-Jacobian rules are each other (per head the rules of a matrix product, ``y = A B`` gives
``\bar A = \bar y B^\top`` and ``\bar B = A^\top \bar y``):

    Y = stack(A_h B_h^T):    \bar A = concat(\bar Y_h B_h),     \bar B = concat(\bar Y_h^T A_h)
    Y = concat(P_h B_h):     \bar P = stack(\bar Y_h B_h^T),    \bar B = concat(P_h^T \bar Y_h)
    Y = concat(P_h^T A_h):   \bar P = stack(A_h \bar Y_h^T),    \bar A = concat(P_h \bar Y_h)

The exported code keeps the heads as an axis (``A.reshape(N, H, E).transpose(1, 0, 2)``) and multiplies all
heads in one batched ``@``: no loop over heads or tokens. The reference evaluation takes the blocks one by one.
"""
from __future__ import annotations

import sympy as sp
from sympy import Expr, MatMul, MatrixExpr
from sympy.core.sympify import _sympify

from symderive.errors import ModelError
from symderive.export.scaffold import HELPERS
from symderive.ops.registry import defvjp, evaluate_node, same_size, shape_conflict, shape_text
from symderive.ops.rows import Option


class HeadProduct(MatrixExpr):
    """A per-head product of two matrices, ``heads`` blocks of columns each; ``left`` and ``right`` say which
    operand is read in blocks of columns (the other, a stack of heads, in blocks of rows)."""

    def __new__(cls, a, b, heads):
        a, b, heads = _sympify(a), _sympify(b), _sympify(heads)
        if not (getattr(a, "is_Matrix", False) and getattr(b, "is_Matrix", False)):
            raise ModelError(f"{cls.__name__} multiplies two matrices, not {a} and {b}")
        return MatrixExpr.__new__(cls, a, b, heads)

    @property
    def a(self) -> MatrixExpr:
        return self.args[0]

    @property
    def b(self) -> MatrixExpr:
        return self.args[1]

    @property
    def heads(self) -> sp.Expr:
        """The number of heads: a size, or the :class:`~symderive.ops.rows.Option` ``heads`` (a keyword)."""
        return self.args[2]

    @property
    def count(self) -> sp.Expr:
        """The number of heads as a size (the option's value)."""
        return self.heads.value if isinstance(self.heads, Option) else self.heads


class HeadStack(HeadProduct):
    r"""``\operatorname{stack}_h(A_h B_h^\top)``: ``A`` (N x D) and ``B`` (M x D) in ``H`` blocks of columns;
    ``H N x M``."""

    @property
    def shape(self):
        return (self.count * self.a.shape[0], self.b.shape[0])


class HeadConcat(HeadProduct):
    r"""``\operatorname{concat}_h(P_h B_h)``: ``P`` a stack of ``H`` blocks of rows (H N x M), ``B`` (M x D) in
    blocks of columns; ``N x D``."""

    @property
    def shape(self):
        return (self.a.shape[0] / self.count, self.b.shape[1])


class HeadConcatT(HeadProduct):
    r"""``\operatorname{concat}_h(P_h^\top A_h)``: ``P`` a stack of ``H`` blocks of rows (H N x M), ``A`` (N x D) in
    blocks of columns; ``M x D``."""

    @property
    def shape(self):
        return (self.a.shape[1], self.b.shape[1])


class HeadScale(Expr):
    r"""The number ``1/\sqrt{d_h}``, ``d_h = D / H`` the width of one of ``H`` heads of a model of width ``D``."""

    is_commutative = True
    is_positive = True

    def __new__(cls, count, width):
        return Expr.__new__(cls, _sympify(count), _sympify(width))

    @property
    def count(self) -> sp.Expr:
        return self.args[0]

    @property
    def width(self) -> sp.Expr:
        return self.args[1]


@defvjp(HeadScale, r"\text{a head's scale } 1/\sqrt{d_h} \text{ is a constant}")
def _head_scale_vjp(node, g, ans, functions):
    return []


@evaluate_node.register
def _evaluate_head_scale(e: HeadScale, ev):
    """Its number; in the symbolic proof a positive symbol, so that the proof holds for every scale (and its
    polynomials stay over the rationals)."""
    if isinstance(ev.backend.scalar(0), sp.Basic):
        return sp.Symbol("head_scale", positive=True)
    return ev.backend.scalar(1 / sp.sqrt(sp.Rational(ev.size(e.width), ev.size(e.count))))


@shape_conflict.register
def _head_shapes(e: HeadProduct):
    """Why the operands do not fit, or None."""
    a, b, heads = e.a.shape, e.b.shape, e.count
    fits = {HeadStack: same_size(a[1], b[1]),
            HeadConcat: same_size(a[1], b[0]) and same_size(sp.Mod(a[0], heads), 0),
            HeadConcatT: same_size(a[0], heads * b[0])}[type(e)]
    return None if fits else (f"the heads of {shape_text(a)} and {shape_text(b)} do not fit "
                              f"({type(e).__name__}, {heads} heads)")


STACK = r"Y = \operatorname{stack}_h(A_h B_h^\top) \;\Rightarrow\; \bar A = \operatorname{concat}_h(\bar Y_h B_h),\ " \
        r"\bar B = \operatorname{concat}_h(\bar Y_h^\top A_h)"
CONCAT = r"Y = \operatorname{concat}_h(P_h B_h) \;\Rightarrow\; \bar P = \operatorname{stack}_h(\bar Y_h B_h^\top),\ " \
         r"\bar B = \operatorname{concat}_h(P_h^\top \bar Y_h)"
CONCAT_T = r"Y = \operatorname{concat}_h(P_h^\top A_h) \;\Rightarrow\; \bar P = \operatorname{stack}_h(A_h " \
           r"\bar Y_h^\top),\ \bar A = \operatorname{concat}_h(P_h \bar Y_h)"


def scaled(coeff, product):
    """``coeff product``: a scalar factor of the upstream adjoint stays outside the heads' product (it scales the
    smaller result: ``\\bar Q = \\frac{1}{\\sqrt{d_h}} \\operatorname{concat}_h(\\bar S_h K_h)``)."""
    return product if coeff == 1 else MatMul(coeff, product)


def split_coeff(g):
    """``(c, g')`` with ``g = c g'`` for a scalar ``c`` (1 when there is none)."""
    if isinstance(g, MatMul):
        scalars = [f for f in g.args if not getattr(f, "is_Matrix", False)]
        if scalars:
            return sp.Mul(*scalars), MatMul(*(f for f in g.args if getattr(f, "is_Matrix", False))).doit()
    return sp.S.One, g


@defvjp(HeadStack, STACK)
def _head_stack_vjp(node, g, ans, functions):
    c, g = split_coeff(g)
    h = node.heads
    return [(node.a, scaled(c, HeadConcat(g, node.b, h))),
            (node.b, scaled(c, HeadConcatT(g, node.a, h)))]


@defvjp(HeadConcat, CONCAT)
def _head_concat_vjp(node, g, ans, functions):
    c, g = split_coeff(g)
    h = node.heads
    return [(node.a, scaled(c, HeadStack(g, node.b, h))),
            (node.b, scaled(c, HeadConcatT(node.a, g, h)))]


@defvjp(HeadConcatT, CONCAT_T)
def _head_concat_t_vjp(node, g, ans, functions):
    c, g = split_coeff(g)
    h = node.heads
    return [(node.a, scaled(c, HeadStack(node.b, g, h))),
            (node.b, scaled(c, HeadConcat(node.a, g, h)))]


# ---------------------------------------------------------------------------------------------
# Reference evaluation: head by head, with the backend's own products (NumPy arrays and explicit SymPy
# matrices alike), written independently of the exported code's reshapes.


def column_blocks(m, heads: int) -> list:
    """The ``heads`` blocks of columns of ``m``."""
    width = m.shape[1] // heads
    return [m[:, h * width:(h + 1) * width] for h in range(heads)]


def row_blocks(m, heads: int) -> list:
    """The ``heads`` blocks of rows of ``m``."""
    height = m.shape[0] // heads
    return [m[h * height:(h + 1) * height, :] for h in range(heads)]


def side_by_side(parts, ev):
    """``[p_1 \\cdots p_H]``: the backend stacks rows, so stack the transposes and transpose back."""
    return ev.backend.stack([p.T for p in parts]).T


@evaluate_node.register
def _evaluate_head_stack(e: HeadStack, ev):
    heads = ev.size(e.count)
    pairs = zip(column_blocks(ev(e.a), heads), column_blocks(ev(e.b), heads))
    return ev.backend.stack([ev.backend.matmul(a, b.T) for a, b in pairs])


@evaluate_node.register
def _evaluate_head_concat(e: HeadConcat, ev):
    heads = ev.size(e.count)
    pairs = zip(row_blocks(ev(e.a), heads), column_blocks(ev(e.b), heads))
    return side_by_side([ev.backend.matmul(p, b) for p, b in pairs], ev)


@evaluate_node.register
def _evaluate_head_concat_t(e: HeadConcatT, ev):
    heads = ev.size(e.count)
    pairs = zip(row_blocks(ev(e.a), heads), column_blocks(ev(e.b), heads))
    return side_by_side([ev.backend.matmul(p.T, a) for p, a in pairs], ev)


# ---------------------------------------------------------------------------------------------
# The exported code's helpers (placed in a module whose code calls them; see export.scaffold.HELPERS).

HELPERS["_heads("] = '''


def _heads(m, heads):
    """(..., N, heads * E) -> (..., heads, N, E): the blocks of columns of every head as an axis before the rows
    (a view; the leading axes, a batch of examples, stay)."""
    return m.reshape(*m.shape[:-1], heads, m.shape[-1] // heads).swapaxes(-2, -3)
'''
HELPERS["_merge_heads("] = '''


def _merge_heads(m):
    """(..., heads, N, E) -> (..., N, heads * E): the heads side by side, head h in columns h E .. (h + 1) E - 1."""
    return m.swapaxes(-2, -3).reshape(*m.shape[:-3], m.shape[-2], m.shape[-3] * m.shape[-1])
'''
HELPERS["_head_count("] = '''


def _head_count(heads, width):
    """``heads`` as a positive integer that divides the model's width D (a ValueError naming both otherwise)."""
    if isinstance(heads, bool) or not isinstance(heads, (int, np.integer)) or heads < 1:
        raise ValueError(f"heads must be a positive integer (the number of attention heads), not {heads!r}")
    if width % heads or not width:
        raise ValueError(f"heads={heads} does not divide the width D = {width} into heads of D / heads >= 1 columns")
    return int(heads)
'''


# ---------------------------------------------------------------------------------------------
# The public spellings (``symderive.attention_heads``, ``head_scores``, ``head_outputs``, ``head_scale``):
#
#     H = sd.attention_heads(heads, D)              # heads: a size; the exported functions' keyword heads=
#     S = m.let("S", sd.head_scale(H, D) * sd.head_scores(Q, K, H))
#     P = m.let("P", sd.softmax(S, rows=True))    # every head's rows
#     O = m.let("O", sd.head_outputs(P, V, H))


def attention_heads(count: sp.Symbol, width) -> Option:
    """The number of heads ``H`` of a model of width ``width`` (D): the size ``count`` the model is derived at,
    the required keyword ``heads`` of the exported functions (checked to divide D)."""
    return Option("heads", count, "H", "", f"_head_count(heads, _sizes[{str(width)!r}])", free=False)


def head_scores(Q, K, heads):
    r"""``\operatorname{stack}_h(Q_h K_h^\top)``: every head's ``Q_h K_h^\top`` (N x M), stacked (H N x M)."""
    return HeadStack(Q, K, heads)


def head_outputs(P, V, heads):
    r"""``\operatorname{concat}_h(P_h V_h)``: every head's ``P_h V_h`` (N x D / H), side by side (N x D)."""
    return HeadConcat(P, V, heads)


def head_scale(heads, width):
    r"""``1/\sqrt{d_h}`` with ``d_h = D / H`` the width of a head: the factor of a head's scores."""
    return HeadScale(heads.value if isinstance(heads, Option) else heads, width)
