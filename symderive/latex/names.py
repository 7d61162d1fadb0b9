"""Names in parsed model equations: which symbol is a variable, its name, and its time step."""
from __future__ import annotations

import re

import sympy as sp

from symderive.latex.parsed import IDENTITY, ONES, index_symbol, indexed
from symderive.ops.nodes import t


def base_name(e) -> str:
    """The name of a symbol or of an indexed symbol's base."""
    if isinstance(e, sp.Indexed):
        return e.base.label.name
    return e.name


def is_variable(e) -> bool:
    """A matrix or vector symbol (non-commutative, other than ``I`` and ``1``) or an indexed one (``h_t``)."""
    return ((isinstance(e, sp.Symbol) and not e.is_commutative and e not in (IDENTITY, ONES))
            or isinstance(e, sp.Indexed))


def time_offset(index) -> int | None:
    """k for an index ``t + k``; None for an index that is not a time step of the generic t."""
    k = sp.expand(index - t)
    return int(k) if k.is_Integer else None


def as_label(e):
    """``W_i`` read as an index (i is an index letter) but meant as a label: the symbol ``W_i``."""
    return sp.Symbol(f"{base_name(e)}_{''.join(map(str, e.indices))}", commutative=False)


def relabel(expr):
    """In a model equation, every subscript that is not a time step (``W_i``, ``b_1``) is a label."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed)
                        and (len(e.indices) != 1 or time_offset(e.indices[0]) is None),
                        as_label)



def as_entry(e):
    """``b_o`` read as a label but meant as an entry (an index-level left side): ``b[o]``; the wrt of a
    derivative alike (``\\partial b_{o}``); anything else unchanged."""
    if isinstance(e, sp.Function) and type(e).__name__ == "partial":
        return e.func(e.args[0], as_entry(e.args[1]))
    if isinstance(e, sp.Symbol) and not e.is_commutative and "_" in e.name:
        head, label = e.name.split("_", 1)
        letters = re.findall(r"[a-z]'*", label)
        if head and letters and "".join(letters) == label and len(letters) <= 6:
            return indexed(head, *(index_symbol(x) for x in letters))
    return e
