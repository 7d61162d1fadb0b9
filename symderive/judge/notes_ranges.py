r"""The ranges a notes file's convolution leaves unsaid, inferred from the input's annotated shape.

A notes file writes ``Y_{i,j} = \sum_{p=1}^{k}\sum_{q=1}^{k} K_{p,q} X_{i+p-1,j+q-1} + b`` and annotates
``<!-- symderive: shape X: M x N -->``; the output letter ``i`` then runs over every value whose reads fit inside
X: from the index base b, ``i + p - 1 >= b`` at the least p and ``i + p - 1 <= b + M - 1`` at the greatest, so
``i = 1..M-k+1`` (the "valid" convolution). What cannot be inferred is asked for as an annotation, never as a
command-line flag (the notes are read by ``check NOTES``, not by ``check --model``).
"""
from __future__ import annotations

import re

import sympy as sp

from symderive.errors import SymderiveError
from symderive.latex.index_ranges import entries, infer_base, written_bounds
from symderive.latex.indexed import as_size, read_index_equation, read_index_shapes, read_ranges

#: how a notes file writes an annotation, per format
ANNOTATION_FORM = {"md": "<!-- symderive: {} -->", "tex": "% symderive: {}"}


def inferred_ranges(texts: list[str], shapes: list[str], ranges: list[str]) -> tuple[list[str], list[str]]:
    """The ranges and shapes to build with: for each output letter with no range, the range its reads of an
    annotated input allow, written as ``v: lo..lo+n-1`` with a size n of its own and the input's shape left to
    follow from the reads (the same model: the input's size is ``n`` plus the window's)."""
    try:
        eqs = [read_index_equation(t) for t in texts]
        declared, counts = read_ranges(ranges), read_index_shapes(shapes)
    except SymderiveError:
        return list(ranges), list(shapes)  # the builder names what is wrong
    base, used = infer_base(eqs, declared), set(" ".join(texts + shapes + ranges))
    found, inputs = {}, set()
    for eq in eqs:
        bounds = written_bounds(eq.rhs, eq.implicit)
        for v in eq.letters:
            span = None if v.name in declared or v.name in found else letter_span(v, eq.rhs, bounds, counts, base)
            if span is not None:
                size = next(c for c in "mnrsuvw" + "MNRSUVW" if c not in used)
                used.add(size)
                found[v.name], inputs = f"{v.name}: {sp.sstr(span[0])}..{sp.sstr(span[0])} + {size} - 1", inputs | {
                    span[2]}
    kept = [s for s in shapes if s.split(":")[0].strip() not in inputs]
    return list(ranges) + list(found.values()), kept


def letter_span(v: sp.Symbol, rhs, bounds: dict, counts: dict, base: int) -> tuple | None:
    """``(first, last, X)`` of the letter ``v`` from the first read ``X_{..., v + rest, ...}`` of an input X with a
    declared size, ``rest`` in the summed letters: every read inside ``base .. base + size - 1``."""
    for name, indices in entries(rhs):
        for axis, e in enumerate(indices):
            e = sp.expand(e)
            if name not in counts or v not in e.free_symbols or e.coeff(v) != 1:
                continue
            rest = sp.expand(e - v)
            if not rest.free_symbols <= set(bounds) | sizes(counts):
                continue
            low, high = rest, rest
            for u, (lo, hi) in bounds.items():
                up = rest.coeff(u).is_nonnegative
                low, high = low.subs(u, lo if up else hi), high.subs(u, hi if up else lo)
            return as_size(sp.expand(base - low)), as_size(sp.expand(base + counts[name][axis] - 1 - high)), name
    return None


def sizes(counts: dict) -> set:
    return {s for dims in counts.values() for d in dims for s in sp.sympify(d).free_symbols}


def notes_hint(message: str, fmt: str) -> str:
    """The builder's ``--range 'i: 1..n'`` / ``--shape 'X: n x n'`` advice as the notes file's annotation."""
    form = ANNOTATION_FORM.get(fmt, ANNOTATION_FORM["md"])
    message = re.sub(r"--(range|shape) '([^']*)'", lambda m: f"{form.format(m.group(1) + ' ' + m.group(2))}",
                     message)
    return message.replace("(<!--", "(the annotation <!--").replace("(% symderive", "(the annotation % symderive")
