r"""Identities of row sums that turn the engine's adjoints into the compact forms people use, each a rewrite
rule with its statement. Every rule is proved entry by entry at explicit sizes in ``tests/ops/test_row_identities.py``
(and the reason it holds is its docstring), so a formula rewritten by them is still the engine's.

* :data:`ROWSUM_PRODUCT` -- ``\operatorname{rowsum}((A B^\top) \odot C) = \operatorname{rowsum}(A \odot (C B))``:
  with ``\bar P = \bar O V^\top`` and ``O = P V`` it is FlashAttention's ``\operatorname{rowsum}(\bar P \odot P) =
  \operatorname{rowsum}(\bar O \odot O)``, a row sum over d_v entries instead of over M keys;
* :data:`ONES_TRANSPOSE` -- ``\mathbf{1}^\top A^\top = \operatorname{rowsum}(A)^\top``;
* :data:`SOFTMAX_ROWSUM` -- ``\operatorname{rowsum}(P \odot (X - \operatorname{rowsum}(X \odot P)\mathbf{1}^\top))
  = 0`` when every row of ``P`` sums to one (a row-wise softmax): the adjoint of the scores sums to zero in every
  row, which is why softmax is shift-invariant and a bias added to every key gets no gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import HadamardProduct, MatMul, Transpose

from symderive.ops.nodes import hadamard
from symderive.ops.rows import RowSum, SoftmaxRows


@dataclass(frozen=True)
class RowIdentity:
    """A rewrite ``rewrite(node) -> node or None`` and the identity it applies, stated in LaTeX."""

    name: str
    statement: str
    rewrite: Callable
    collapses: bool = False  # the rewrite gives zeros, which the products around them take up

    def apply(self, expr, softmaxes=frozenset()):
        """``expr`` with the identity applied wherever it matches; ``softmaxes`` names the model's values that
        are row-wise softmaxes (their rows sum to one)."""
        def matches(node) -> bool:
            return self.rewrite(node, softmaxes) is not None

        out = expr.replace(matches, lambda node: self.rewrite(node, softmaxes))
        return out.doit() if self.collapses else out


def softmax_values(program) -> frozenset:
    """The names of the program's values defined as a row-wise softmax."""
    return frozenset(a.target.name for a in program.assignments if isinstance(a.expr, SoftmaxRows))


def _product_out_of_rowsum(node, softmaxes=frozenset()):
    """``rowsum((c A B^T) ⊙ C) -> c rowsum(A ⊙ (C B))``: entry i is sum_j sum_k A_ik B_jk C_ij on both sides."""
    if not isinstance(node, RowSum) or type(node) is not RowSum or not isinstance(node.arg, HadamardProduct):
        return None
    factors = list(node.arg.args)
    for i, f in enumerate(factors):
        if isinstance(f, MatMul):
            coeff, matrices = f.as_coeff_matrices()
            if len(matrices) == 2 and isinstance(matrices[1], Transpose) and len(factors) == 2:
                other = factors[1 - i]
                inner = RowSum(hadamard(matrices[0], MatMul(other, matrices[1].arg).doit()))
                return inner if coeff == 1 else MatMul(coeff, inner)
    return None


def _ones_transpose(node, softmaxes=frozenset()):
    """``1^T A^T -> rowsum(A)^T`` (the column sums of A^T are the row sums of A)."""
    if not isinstance(node, MatMul):
        return None
    coeff, factors = flat_product(node)
    for i in range(len(factors) - 1):
        ones, nxt = factors[i], factors[i + 1]
        if isinstance(ones, sp.OneMatrix) and ones.rows == 1 and isinstance(nxt, Transpose):
            summed = Transpose(RowSum(nxt.arg))
            return MatMul(*([coeff] if coeff != 1 else []), *factors[:i], summed, *factors[i + 2:])
    return None


def flat_product(node) -> tuple:
    """``(c, [A, B, ...])`` of a product with nested products flattened, and nothing else rewritten (``doit``
    would also push a transpose into a Hadamard product)."""
    coeff, factors = node.as_coeff_matrices()
    out = []
    for f in factors:
        inner = flat_product(f) if isinstance(f, MatMul) else (sp.S.One, [f])
        coeff, out = coeff * inner[0], out + inner[1]
    return coeff, out


def _softmax_rowsum(node, softmaxes=frozenset()):
    """``rowsum(P ⊙ (X - rowsum(X ⊙ P) 1^T)) -> 0`` for P a row-wise softmax (a :class:`SoftmaxRows` node, or a
    value named in ``softmaxes`` whose definition is one): each row of P sums to 1, so row i is
    sum_j P_ij X_ij - (sum_j P_ij) sum_k X_ik P_ik = 0."""
    if type(node) is not RowSum or not isinstance(node.arg, HadamardProduct) or len(node.arg.args) != 2:
        return None
    for p, rest in (node.arg.args, node.arg.args[::-1]):
        is_softmax = isinstance(p, SoftmaxRows) or getattr(p, "name", None) in softmaxes
        if is_softmax and is_centred_by(rest, p):
            return sp.ZeroMatrix(*node.shape)
    return None


def is_centred_by(rest, p) -> bool:
    """Is ``rest`` of the form ``X - rowsum(X ⊙ p) 1^T``?"""
    if not isinstance(rest, sp.MatAdd) or len(rest.args) != 2:
        return False
    for x, correction in (rest.args, rest.args[::-1]):
        if not isinstance(correction, MatMul):
            continue
        coeff, factors = correction.as_coeff_matrices()
        if coeff == -1 and len(factors) == 2 and isinstance(factors[1], sp.OneMatrix) and type(factors[0]) is RowSum:
            summed = factors[0].arg
            if isinstance(summed, HadamardProduct) and set(summed.args) == {x, p}:
                return True
    return False


ROWSUM_PRODUCT = RowIdentity(
    "rowsum-product", r"\operatorname{rowsum}\left((A B^\top) \odot C\right) = \operatorname{rowsum}\left(A \odot "
    r"(C B)\right)", _product_out_of_rowsum)
ONES_TRANSPOSE = RowIdentity(
    "ones-transpose", r"\mathbf{1}^\top A^\top = \operatorname{rowsum}(A)^\top", _ones_transpose)
SOFTMAX_ROWSUM = RowIdentity(
    "softmax-rowsum", r"\operatorname{rowsum}\left(P \odot (X - \operatorname{rowsum}(X \odot P)\,\mathbf{1}^\top)"
    r"\right) = 0 \text{ when } P\,\mathbf{1} = \mathbf{1}", _softmax_rowsum, collapses=True)
