r"""The identifiers of a model read from LaTeX: the names its program, its exported functions' arguments
and its documents use.

An identifier is the LaTeX name with backslashes, braces, font commands and parentheses dropped and its
parts joined with ``_``: ``W_{hh}`` -> ``W_hh``, ``W^{(2)}`` -> ``W_2``, ``\mathbf{W}_X`` -> ``W_X``,
``\hat y`` -> ``y_hat``, ``h^{(1)}_t`` -> ``h_1`` (the time step is not part of a name), ``h'`` ->
``h_prime``. The reader names a symbol by its parts (``yhat``, ``W^(2)``, ``W_hh``); :func:`identifier`
turns such a name into the identifier.
"""
from __future__ import annotations

import re

import sympy as sp

from symderive.errors import ModelError
from symderive.latex.atoms import ACCENTS
from symderive.latex.names import is_variable
from symderive.latex.words import GREEK

#: font and text commands dropped from a label (``W_{\text{out}}`` -> ``W_out``)
FONT_WORDS = ("operatorname", "mathrm", "mathit", "mathsf", "mathbf", "mathcal", "mathbb", "mathnormal",
              "boldsymbol", "textrm", "text", "bm", "vec", "pmb")
ACCENT_WORDS = tuple(sorted(set(ACCENTS.values())))
#: what some characters of a label are called in an identifier
CHARACTER_NAMES = {"*": "star", "'": "prime"}


def split_head(head: str) -> list[str]:
    """``yhat`` -> ``['y', 'hat']``: the letters of a symbol and its accents (``\\hat{\\bar x}`` -> ``xhatbar``)."""
    accents = []
    while True:
        accent = next((a for a in ACCENT_WORDS if head.endswith(a) and is_letters(head[:-len(a)])), None)
        if accent is None:
            return [head, *reversed(accents)]
        accents.append(accent)
        head = head[:-len(accent)]


def is_letters(text: str) -> bool:
    """One letter or one Greek letter's name: what the reader puts before a symbol's accents."""
    return (len(text) == 1 and text.isalpha()) or text in GREEK


def identifier(name: str) -> str:
    """The identifier of the reader's name ``name`` of a symbol (see the module's docstring)."""
    head = re.match(r"[A-Za-z0-9]*", name).group()
    rest = name[len(head):]
    primes = len(rest) - len(rest.lstrip("'"))
    rest = rest[primes:]
    for word in FONT_WORDS:
        rest = rest.replace(word + "{", "{")
    for character, word in CHARACTER_NAMES.items():
        rest = rest.replace(character, f"_{word}_")
    parts = [*split_head(head), *["prime"] * primes, *re.split(r"[^A-Za-z0-9]+", rest)]
    return "_".join(p for p in parts if p) or "x"


def rename_symbols(expr, names: dict):
    """``expr`` with every model symbol (and sequence) renamed by ``names`` (reader name -> identifier)."""
    mapping = {s: sp.Symbol(names[s.name], commutative=False) for s in expr.atoms(sp.Symbol)
               if is_variable(s) and s.name in names}
    return expr.xreplace(mapping)


def identifiers_of(reader_names) -> dict:
    """``{reader name: identifier}``; two names with one identifier are refused, naming both."""
    out, seen = {}, {}
    for name in sorted(reader_names):
        ident = identifier(name)
        if ident in seen:
            raise ModelError(f"{readable(seen[ident])} and {readable(name)} would both be named {ident}; "
                             "rename one of them")
        seen[ident] = name
        out[name] = ident
    return out


def readable(name: str) -> str:
    """The reader's name of a symbol, as a person recognises it (``W^(2)`` as ``W^{(2)}``)."""
    return re.sub(r"\^\((.*)\)", r"^{(\1)}", name)
