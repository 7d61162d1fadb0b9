r"""The index-level engine (convolution, pooling): programs over indexed tensors, their derivation, evaluation,
NumPy code and LaTeX.

A model of one's own is written with the names below and given to :func:`symderive.derive`::

    >>> C, H, V, K = sd.index_sizes("C H V K")
    >>> c, i, j, p, q = sd.indices("c i j p q")
    >>> X, Wk, b = sd.tensor("X", "C x H x V"), sd.tensor("W", "C x K x K"), sd.tensor("b", "C")
    >>> Y, G, L = sd.tensor("Y", "C x M x N"), sd.tensor("G", "C x M x N"), sd.tensor("L", "")
    >>> M, N = sd.index_sizes("M N")
    >>> conv = sd.Contract(Y, (c, i, j), (sd.Term((Wk[c, p, q], X[c, 2*i + p - 1, 2*j + q - 1]),
    ...                                           sums=((p, K), (q, K))), sd.Term((b[c],))))
    >>> loss = sd.Contract(L, (), (sd.Term((G[c, i, j], Y[c, i, j]), sums=((c, C), (i, M), (j, N))),))
    >>> d = sd.derive(sd.IndexProgram("depthwise", (conv, loss), (X, Wk, b, G), L))

Every tensor is zero outside its index range (that is what padding means); a dimension may be an
expression of the others (``output_size(H, K, stride=2, padding=1)``), computed in the exported module.
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import ModelError
from symderive.index.program import (
    Contract,
    IndexProgram,
    Pointwise,
    Tensor,
    Term,
    WindowMax,
    index_symbols,
    output_size,
)

__all__ = ["Contract", "IndexProgram", "Pointwise", "Tensor", "Term", "WindowMax", "index_sizes", "indices",
           "output_size", "tensor"]


def indices(names: str) -> tuple[sp.Symbol, ...]:
    """Index variables (non-negative integers), ``indices("c i j p q")``."""
    return index_symbols(names)


def index_sizes(names: str) -> tuple[sp.Symbol, ...]:
    """Size symbols (positive integers), ``index_sizes("C H W K")``."""
    return sp.symbols(names, integer=True, positive=True, seq=True)


def tensor(name: str, shape: str, latex: str = "") -> Tensor:
    """A tensor of the sizes ``"C x H x W"`` (names or numbers; ``""`` for a scalar such as the loss),
    spelled ``latex`` in documents (default: the name)."""
    if not isinstance(shape, str):
        raise ModelError(f"the shape of {name} is a text such as 'C x H x W', not {type(shape).__name__}")
    dims = []
    for part in (p.strip() for p in shape.split("x") if shape.strip()):
        if part.isdigit() and int(part) > 0:
            dims.append(sp.Integer(int(part)))
        elif part.isidentifier():
            dims.append(index_sizes(part)[0])
        else:
            raise ModelError(f"the shape of {name}: {part!r} is not a size name or a positive number ('C x H x W')")
    return Tensor(name, tuple(dims), latex)
