r"""The values a claim takes at one point, and their algebra.

A parsed claim writes matrix products as SymPy products (``W x`` is ``Mul(W, x)``, its symbols
non-commutative) and sums as sums; the reference interpreter's rules for ``Mul`` and ``Add``
(``symderive/ops/linear.py``) combine the values of the children with ``*`` and ``+``. A
:class:`Value` gives those operators the meaning a claim needs, over NumPy arrays (float64) or
explicit SymPy matrices:

* ``a * b`` is the matrix product ``a b`` (a ``1 x 1`` result is a scalar), or a scalar multiple;
* ``a + b`` adds equal shapes, or a scalar to every entry;
* :class:`Eye` is the identity of whatever size it meets (an empty product ``\prod_{j=t+1}^{t}``);
* :data:`NOTHING` is a quantity outside the steps ``1..T`` (``\delta_{T+1}``): a zero of whatever
  shape it meets, absorbing in products and neutral in sums.

Shapes that do not fit raise :class:`Misshaped`; the interpreter adds the node it was evaluating
(:meth:`symderive.judge.context.ClaimEvaluation.__call__`).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from symderive.errors import ModelError


class NotApplicable(Exception):
    """This combination of index values does not denote a derivative (∂h_t/∂h_i with i > t)."""


class Misshaped(Exception):
    """Two shapes that do not fit (the message says how); the node is added by the interpreter."""


class NumericOnly(Exception):
    """This claim is checked numerically only: its exact evaluation would not finish (the message says why)."""


#: the largest exponent evaluated exactly (``(a - y)^{1000}`` expanded would not finish)
MAX_SYMBOLIC_POWER = 64


def is_array(x) -> bool:
    return isinstance(x, (np.ndarray, sp.MatrixBase))


def is_symbolic(x) -> bool:
    return isinstance(x, sp.MatrixBase)


def fmt(shape) -> str:
    return " x ".join(map(str, shape)) if shape else "scalar"


def as_scalar(x):
    """The entry of a ``1 x 1`` matrix (``x^T W y``); other values unchanged."""
    if is_array(x) and tuple(x.shape) == (1, 1):
        return x[0, 0]
    return x


class Value:
    """A claim's value: ``data`` is an array (NumPy or SymPy) or a scalar."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

    @property
    def is_array(self) -> bool:
        return is_array(self.data)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape) if self.is_array else ()

    @property
    def T(self) -> "Value":
        """``A^T``; a scalar, the identity and nothing are their own transposes."""
        return Value(self.data.T) if self.is_array else self

    def __add__(self, other: "Value") -> "Value":
        return add(self, other)

    def __mul__(self, other: "Value") -> "Value":
        return matmul(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data!r})"


class Eye(Value):
    """The identity matrix of whatever size it meets. It has no data: arithmetic other than
    products and sums fails as it would on any object without a value."""

    def __init__(self):
        super().__init__(None)


class Nothing(Value):
    """A value outside the steps 1..T (``\\delta_{T+1}``, ``h_{T+1}``): a zero of whatever shape it meets."""

    def __init__(self):
        super().__init__(None)


NOTHING = Nothing()


class OnesRow(Value):
    """``\\mathbf{1}^\\top``: the row of ones of whatever length it meets (``r \\mathbf{1}^\\top`` spreads a column)."""

    def __init__(self):
        super().__init__(1)


class OnesColumn(Value):
    """``\\mathbf{1}``: 1 in every entry; after a matrix, the column of ones that sums its rows (``A \\mathbf{1}``)."""

    def __init__(self):
        super().__init__(1)


class Spread(Value):
    """``c \\mathbf{1}^\\top``: the column ``c`` (its ``data``) repeated over as many columns as it meets."""


def widened(v: Value, like: Value) -> Value:
    """A spread column as a matrix of the shape of ``like`` (other values unchanged)."""
    if not isinstance(v, Spread) or not like.is_array or isinstance(like, Spread):
        return v
    if like.shape[0] != v.shape[0]:
        raise Misshaped(f"cannot spread a column of {v.shape[0]} rows over a {fmt(like.shape)} matrix")
    ones = sp.ones(1, like.shape[1]) if is_symbolic(v.data) else np.ones((1, like.shape[1]))
    return Value(v.data * ones if is_symbolic(v.data) else v.data @ ones)


def data(v: Value):
    """The array or number of a value; the identity has none where a size is needed (``I \\odot x``, ``\\sigma(I)``)."""
    if isinstance(v, Eye):
        # not a clash of two shapes (a wrong claim) but a value without one: bad input
        raise ModelError("the identity I has no size here: use it in a product or a sum")
    return v.data


def identity_like(x):
    """The identity of the size of the array ``x`` (NumPy or SymPy, as ``x`` is)."""
    return sp.eye(x.shape[0]) if is_symbolic(x) else np.eye(x.shape[0])


def add(a: Value, b: Value) -> Value:
    """``a + b``: nothing is neutral; the identity meets an array as its identity, a scalar as 1."""
    if a is NOTHING or b is NOTHING:
        return b if a is NOTHING else a
    a, b = widened(a, b), widened(b, a)
    if isinstance(a, Eye) or isinstance(b, Eye):
        other = b if isinstance(a, Eye) else a
        return add(Value(identity_like(other.data)) if other.is_array else Value(1), other)
    if a.is_array and b.is_array:
        if a.shape != b.shape:
            raise Misshaped(f"cannot add shapes {fmt(a.shape)} and {fmt(b.shape)}")
        return Value(a.data + b.data)
    if a.is_array or b.is_array:
        arr, s = (a.data, b.data) if a.is_array else (b.data, a.data)
        return Value(arr + (s * sp.ones(*arr.shape) if is_symbolic(arr) else s))
    return Value(a.data + b.data)


def matmul(a: Value, b: Value) -> Value:
    """The matrix product ``a b`` (a scalar when it is ``1 x 1``; a ``1 x 1`` factor that does not fit is a scalar
    multiple): nothing absorbs, the identity is neutral."""
    if a is NOTHING or b is NOTHING:
        return NOTHING
    if isinstance(a, Eye):
        return b
    if isinstance(b, Eye):
        return a
    if isinstance(b, OnesRow) and a.is_array and a.shape[1] == 1:
        return Spread(a.data)
    if isinstance(b, OnesColumn) and a.is_array and a.shape[1] != 1:
        ones = sp.ones(a.shape[1], 1) if is_symbolic(a.data) else np.ones((a.shape[1], 1))
        return Value(a.data * ones if is_symbolic(a.data) else a.data @ ones)
    if a.is_array and b.is_array and a.shape[1] != b.shape[0] and (1, 1) in (tuple(a.shape), tuple(b.shape)):
        return Value(as_scalar(a.data) * as_scalar(b.data))  # a scalar model value (a 1 x 1) scales: (a - y) x
    if a.is_array and b.is_array:
        if a.shape[1] != b.shape[0]:
            raise Misshaped(f"cannot multiply shapes {fmt(a.shape)} and {fmt(b.shape)}")
        return Value(as_scalar(a.data * b.data if is_symbolic(a.data) else a.data @ b.data))
    return Value(a.data * b.data)


def hadamard(a: Value, b: Value) -> Value:
    """The entrywise product ``a ⊙ b`` of equal shapes (or a scalar multiple); nothing absorbs."""
    if a is NOTHING or b is NOTHING:
        return NOTHING
    a, b = widened(a, b), widened(b, a)
    x, y = data(a), data(b)
    if a.is_array and b.is_array:
        if a.shape != b.shape:
            raise Misshaped(f"cannot multiply entrywise shapes {fmt(a.shape)} and {fmt(b.shape)}")
        return Value(x.multiply_elementwise(y) if is_symbolic(x) else x * y)
    return Value(x * y)


def real_number(e) -> float:
    """The float64 value of a number; NaN for one that is not real (``\\sqrt{-1}``, ``1/0``, ``0/0``), and
    ±inf beyond the float64 range."""
    if isinstance(e, (int, float)):
        return float(e)
    return float(e) if e.is_extended_real else math.nan


def power(a: Value, p, symbolic: bool = False) -> Value:
    """``a^{∘p}``, entry by entry (``h_t^2`` in ``1 - h_t^2``): in float64, an overflow is infinite and a
    fractional power of a negative number NaN (never complex); exactly, for ``|p|`` up to :data:`MAX_SYMBOLIC_POWER`."""
    if a is NOTHING or isinstance(a, Eye):
        return a
    if not symbolic:
        return Value(np.power(a.data if a.is_array else np.float64(a.data), real_number(p)))
    if not (p.is_extended_real and abs(p) <= MAX_SYMBOLIC_POWER):
        raise NumericOnly(f"a power that is not a real number of at most {MAX_SYMBOLIC_POWER} "
                          "is evaluated in float64 only")
    if is_symbolic(a.data):
        return Value(a.data.applyfunc(lambda x: x ** p))
    return Value(a.data ** p)


def final(claimed: Value, truth):
    """The claimed value as it is compared with ``truth``: the identity takes the truth's size,
    nothing becomes the truth's zero."""
    if isinstance(claimed, Eye):
        return identity_like(truth) if is_array(truth) else 1
    if claimed is NOTHING:
        return 0 * truth
    return widened(claimed, Value(truth)).data
