r"""Reading index-level LaTeX: the equations of a convolution or pooling model written entry by entry
(``h_i = \sigma\left(\sum_{j=1}^{k} V_j x_{i+j-1}\right)``, ``Y_{o,i,j} = \sum_{c,p,q} W_{o,c,p,q}
X_{c, S i + p - P, S j + q - P} + b_o``), and the declarations that go with them (``--range 'i: 1..m'``,
``--shape 'X: C x M x N'``).

The reader of :mod:`symderive.latex.reader` does the reading, in its index-level mode: a one-letter
subscript is an index (``b_o``), an index is an integer expression (``x_{2i}``, ``X_{c, S i + p}``), the left
side's letters are bound for the right side, ``\sum_{c,p,q}`` without bounds takes its ranges from the
model, and ``\max_{p,q}`` is the maximum over a window. This module turns the parse into plain parts:
the tensor read (:func:`access_of`), its name, the index letters, the sizes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from symderive.errors import LatexParseError, ModelError
from symderive.latex.atoms import index_expression
from symderive.latex.parsed import Context, index_symbol
from symderive.latex.reader import read_sides
from symderive.latex.shapes import MAX_SIZE, read_declarations
from symderive.latex.tokens import tokenize
from symderive.latex.words import GREEK


@dataclass(frozen=True)
class IndexEquation:
    """One equation ``lhs_{letters} = rhs`` as read: the left side's tensor name and index letters (none for
    the scalar loss), the right side, the letters of sums written without bounds, the source, and the bounds
    written on a window maximum (``((letter, first, last), ...)`` of ``\\max_{p=1}^{K}``)."""

    name: str
    letters: tuple
    rhs: sp.Expr
    implicit: frozenset
    source: str
    windows: tuple = ()


def read_index_equation(text: str) -> IndexEquation:
    """``NAME_{i,j,...} = EXPRESSION`` (or ``L = EXPRESSION`` for the loss), read in the index-level mode."""
    sides, ctx = read_sides(text, index_level=True)
    if len(sides) != 2:
        raise LatexParseError("an index-level equation is 'NAME_{i,j} = EXPRESSION' (one '=')", text, 0)
    lhs, rhs = sides
    if isinstance(lhs, sp.Indexed):
        letters = tuple(lhs.indices)
        if not all(isinstance(v, sp.Symbol) for v in letters) or len(set(letters)) != len(letters):
            raise ModelError(f"the left side of {text!r} is indexed by distinct letters (Y_{{o,i,j}}), not "
                             f"{', '.join(map(str, letters))}")
        return IndexEquation(lhs.base.label.name, letters, rhs, frozenset(ctx.implicit), text, windows(ctx))
    if isinstance(lhs, sp.Symbol) and not lhs.is_commutative:
        return IndexEquation(lhs.name, (), rhs, frozenset(ctx.implicit), text, windows(ctx))
    raise ModelError(f"the left side of {text!r} must be one tensor entry (h_i, Y_{{o,i,j}}) or the loss L")


def windows(ctx) -> tuple:
    """The bounds written on window maxima: ``((letter symbol, first, last), ...)``."""
    return tuple((index_symbol(v), lo, hi) for v, (lo, hi) in sorted(ctx.windows.items()))


def read_index_claim(text: str) -> tuple:
    """The sides of an index-level claim ``\\frac{\\partial L}{\\partial V_j} = ...`` (and the context)."""
    return read_sides(text, index_level=True)


def access_of(e) -> tuple[str, tuple] | None:
    """``(name, indices)`` of a tensor entry ``x_{i+j-1}`` (an ``Indexed``), or None."""
    if isinstance(e, sp.Indexed):
        return e.base.label.name, tuple(e.indices)
    return None


def is_scalar_name(e) -> bool:
    """A symbol written without indices (a scalar bias ``b``, a size ``K`` in ``\\frac{1}{K^2}``)."""
    return isinstance(e, sp.Symbol) and not e.is_commutative


def tensor_latex(name: str) -> str:
    """How a name the reader gives is written in LaTeX: ``delta`` -> ``\\delta``, ``W_f`` -> ``W_{f}``."""
    head, _, label = name.partition("_")
    head = "\\" + head if head in GREEK else head
    return f"{head}_{{{label}}}" if label else head


# ---------------------------------------------------------------------------------------------
# Declarations: ranges and shapes.


def size_symbol(name: str) -> sp.Symbol:
    """The symbol of a size (``m``, ``K``, ``M``): a positive integer."""
    return sp.Symbol(name, integer=True, positive=True)


def integer_expression(text: str, where: str) -> sp.Expr:
    """An integer expression of sizes and numbers (``1``, ``m``, ``F-1``, ``2K+1``)."""
    tokens = tokenize(text)
    if not tokens:
        raise LatexParseError(f"{where}: a bound is missing", text, 0)
    return index_expression(tokens, Context(text, index_level=True))


RANGE = re.compile(r"^\s*([A-Za-z])\s*:\s*(.+?)\s*\.\.\s*(.+?)\s*$")


def read_range(text: str) -> tuple[str, sp.Expr, sp.Expr]:
    """``'i: 1..m'`` -> ``('i', 1, m)``: an index letter runs from the first bound to the second, both included."""
    match = RANGE.match(text)
    if not match:
        raise LatexParseError("a range is declared as 'LETTER: FIRST..LAST' (e.g. 'i: 1..m', 'o: 0..F-1')", text,
                              0)
    letter, lo, hi = match.groups()
    where = f"--range '{text}'"
    lo, hi = integer_expression(lo, where), integer_expression(hi, where)
    count = sp.expand(hi - lo + 1)
    if count.is_number and count < 1:
        raise ModelError(f"{where} is empty: {letter} runs from its first value up to its last, so the last is at "
                         f"least the first (e.g. '{letter}: 1..m', '{letter}: 0..K-1')")
    if count.is_number and count > MAX_SIZE:
        raise ModelError(f"{where}: {letter} would take {count} values; a range has at most {MAX_SIZE} (or give "
                         "its last value as a size name such as m, and the checker chooses small sizes)")
    return letter, lo, hi


def read_ranges(declared) -> dict:
    """``{letter: (first, last)}`` of the declarations; a letter declared twice is refused."""
    out = {}
    for text in declared or ():
        letter, lo, hi = read_range(text)
        if letter in out:
            raise ModelError(f"the range of {letter} is declared twice (--range '{text}')")
        out[letter] = (lo, hi)
    return out


def read_index_shape(text: str) -> tuple[str, list]:
    """``'X: C x M x N'`` -> ``('X', [C, M, N])``: the number of entries along each axis (sizes or numbers)."""
    if ":" not in text:
        raise LatexParseError("a shape is declared as 'NAME: SIZE x SIZE x ...' (e.g. 'X: C x M x N')", text,
                              len(text))
    name_text, dims_text = text.split(":", 1)
    sides, _ = read_sides(name_text.strip(), index_level=True)
    if len(sides) != 1 or not (is_scalar_name(sides[0]) or isinstance(sides[0], sp.Indexed)):
        raise LatexParseError("the left side of a shape declaration must be one name", text, 0)
    name = sides[0].base.label.name if isinstance(sides[0], sp.Indexed) else sides[0].name
    for sep in (r"\times", "×", "*", ","):
        dims_text = dims_text.replace(sep, " x ")
    dims = [d.strip() for d in dims_text.split(" x ") if d.strip()]
    if not dims:
        raise LatexParseError("give the sizes of the axes, separated by 'x' (e.g. 'C x M x N')", text, len(text))
    sizes = [integer_expression(d, f"--shape '{text}'") for d in dims]
    for d in sizes:
        if d.is_number and not 1 <= d <= MAX_SIZE:
            raise ModelError(f"--shape '{text}': a size of {d} is refused: sizes are whole numbers from 1 to "
                             f"{MAX_SIZE} (or a name such as m, and the checker chooses small sizes)")
    return name, sizes


def read_index_shapes(declared) -> dict:
    """``{name: [sizes]}`` of the declarations (a dict ``{name: 'C x M x N'}`` or a list of 'NAME: ...')."""
    items = [f"{k}: {v}" for k, v in declared.items()] if isinstance(declared, dict) else list(declared or ())
    return read_declarations(items, read_index_shape)


def as_size(e) -> sp.Expr:
    """An expression of the parse with its letters as size symbols (positive integers)."""
    e = sp.sympify(e)
    return e.subs({s: size_symbol(s.name) for s in e.free_symbols}, simultaneous=True)
