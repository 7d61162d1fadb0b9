"""What a parse is made of: the SymPy forms the reader produces, and the placeholders that carry them
through the ANTLR parser.

Matrix and vector symbols are non-commutative (the order of ``x^T W y`` is kept), time-indexed symbols
are ``Indexed`` (``h[t - 1]``), index variables are integer symbols, and the operations SymPy has no safe
node for are the unevaluated functions below (``transpose``, ``hadamard``, ``partial``, ``norm``,
``concat``, ``entry``). What the reader reads itself reaches the parser as a placeholder
``\\variable{Qk}`` (see :class:`Context`), put back by :func:`symderive.latex.antlr.resolve`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

# ---------------------------------------------------------------------------------------------
# The nodes SymPy has no safe (unevaluated, non-commutative) form for.


class _Op(sp.Function):
    """An unevaluated, non-commutative operation of the normalised parse."""

    is_commutative = False


class transpose(_Op):
    """``A^T``."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        if isinstance(a, transpose):
            return a.args[0]
        if a.is_number:
            return a


class hadamard(_Op):
    """``a ⊙ b ⊙ ...`` (also written ``a \\circ b`` or ``a * b``)."""

    @classmethod
    def eval(cls, *args):
        if any(isinstance(a, hadamard) for a in args):
            return hadamard(*(b for a in args for b in (a.args if isinstance(a, hadamard) else (a,))))


class partial(_Op):
    """``∂A/∂B``: kept unevaluated (never ``.doit()`` a derivative of an opaque symbol)."""

    nargs = 2


class norm(_Op):
    """``||v||`` (the Euclidean or Frobenius norm)."""

    nargs = 1


class concat(_Op):
    """``[a, b, ...]``: the parts stacked into one vector."""


class entry(_Op):
    """``f(z)_i``: an entry of a function's value."""


class window_max(_Op):
    r"""``\max_{p,q} X_{c, 2i+p, 2j+q}``: the maximum of the first argument over the window variables that follow
    (index-level models only)."""


class Sum(sp.Sum):
    r"""``\sum_{k=lo}^{hi}``, never a number to SymPy: SymPy adds a sum of numbers up term by term to
    order or print it, and ``\sum_{j=1}^{10^{12}} 2`` would never finish. Its value is the judge's
    (a bounded loop). It prints as SymPy's ``Sum``, whose name it keeps."""

    is_number = False


class Product(sp.Product):
    r"""``\prod_{k=lo}^{hi}``, never a number to SymPy (as :class:`Sum`)."""

    is_number = False


#: the reader's class of each SymPy big operator
BIG_OPERATORS = {sp.Sum: Sum, sp.Product: Product}


def is_plain_number(e) -> bool:
    r"""A number written out (``2``, ``\frac{1}{3}``, ``\sqrt{2}``), not a sum, product, call or operation of
    numbers: those have rules of their own (``[1, 2]`` is a vector, and SymPy would multiply
    ``\prod_{j=1}^{10^{12}} 2`` out term by term)."""
    if isinstance(e, (int, float)):
        return True
    return isinstance(e, sp.Basic) and e.is_number and not e.has(sp.Sum, sp.Product, sp.Function)


IDENTITY = sp.Symbol("I", commutative=False)
ONES = sp.Symbol("ones", commutative=False)


def index_symbol(name: str) -> sp.Symbol:
    """The integer symbol of an index variable (``t``, ``i``, ``T``)."""
    return sp.Symbol(name, integer=True, positive=True) if name == "T" else sp.Symbol(name, integer=True)


def matrix_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, commutative=False)


def indexed(name: str, *indices) -> sp.Indexed:
    """``name_{indices}`` as ``Indexed`` of a non-commutative base (``h[t - 1]``)."""
    return sp.IndexedBase(matrix_symbol(name))[indices]


def function(name: str, *args, primes: int = 0):
    """``name(args)``, or its derivative ``name'(args)`` when primed."""
    return sp.Function(name + "'" * primes)(*args)



# ---------------------------------------------------------------------------------------------
# Placeholders.


@dataclass
class Context:
    """What one formula's readers share: the source, the placeholders and the bound variables."""

    source: str
    table: dict = field(default_factory=dict)
    bound: set = field(default_factory=set)
    index_level: bool = False  # an index-level model or claim: one-letter subscripts are indices
    implicit: set = field(default_factory=set)  # variables of sums written without bounds (index level)
    windows: dict = field(default_factory=dict)  # letter -> (first, last) of a \max_{p=1}^{K} (index level)

    def placeholder(self, value) -> str:
        name = f"Q{len(self.table)}"
        self.table[sp.Symbol(name, commutative=False)] = value
        return rf"\variable{{{name}}}"


#: ``\sigma'(\cdot)`` in an index-level claim: the function's argument as the model writes it
DOT_ARGUMENT = sp.Symbol("cdot_argument", commutative=False)

#: the placeholder of a transpose superscript: ``x^{QT}`` is put back as ``transpose(x)``
TRANSPOSE_MARK = sp.Symbol("QT", commutative=False)
