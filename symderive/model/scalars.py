"""Scalars in a matrix model: a 1 x 1 value is a scalar, and a scalar times a vector is a scalar multiple.

SymPy refuses ``c v`` for a 1 x 1 ``c`` and an ``n x 1`` ``v`` (the sizes do not fit as a matrix product),
but ``v c`` (``n x 1`` by ``1 x 1``) is a valid product with the same value, and so is ``c r`` for a row
``r``. :func:`times` writes a product with the 1 x 1 factors where the sizes fit; the printers then write
the 1 x 1 factors first, as scalars (``c v``), and the reverse mode needs no rule of its own.
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import ShapeMismatchError
from symderive.ops.registry import shape_text


def is_scalar(e) -> bool:
    """Is ``e`` a 1 x 1 matrix expression (a scalar of the model)?"""
    return bool(getattr(e, "is_Matrix", False)) and tuple(e.shape) == (1, 1)


def times(*factors):
    """The product of ``factors`` in which 1 x 1 factors are scalars: ``times(c, v)`` is ``c v`` for a
    column vector ``v`` (the product ``v c``), a row vector, or a scalar; numbers are coefficients."""
    numbers = [f for f in factors if not getattr(f, "is_Matrix", False)]
    scalars = [f for f in factors if is_scalar(f)]
    others = [f for f in factors if getattr(f, "is_Matrix", False) and not is_scalar(f)]
    if not others:
        return sp.MatMul(*numbers, *scalars).doit()
    body = sp.MatMul(*others).doit() if len(others) > 1 else others[0]
    rows, cols = body.shape
    if cols == 1:
        return sp.MatMul(*numbers, body, *scalars).doit()
    if rows == 1:
        return sp.MatMul(*numbers, *scalars, body).doit()
    raise ShapeMismatchError(f"a scalar times a {shape_text(body.shape)} matrix: only a scalar times a vector "
                             "(a column or a row) is supported")
