r"""Names for the sizes shape inference left unknown: ``n_h`` for the length of ``h`` (or of a row ``H_t``),
``n_W_r`` and ``n_W_c`` for the rows and columns of a matrix ``W`` no vector gives a size.

Vectors name sizes first (values the model assigns before its arguments, sequences before the others), so
``W_{hh}`` of ``h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t)`` is ``n_h x n_h`` and ``W_{xh}`` is ``n_h x n_x``.
"""
from __future__ import annotations

import sympy as sp


def is_unknown(s: sp.Symbol) -> bool:
    return s.name.startswith("_u")


def naming_order(dims: dict, resolved: dict, assigned, sequences) -> list[str]:
    """The symbols in the order they name sizes: vectors, then assigned values, then sequences, then by name."""
    def key(name):
        shape = resolved[name]
        vector = bool(shape) and 1 in shape
        return (not vector, name not in assigned, name not in sequences, name.lower(), name)
    return sorted(dims, key=key)


def vector_label(name: str) -> str:
    """``h_1`` -> ``h1``, ``H`` -> ``h``: a vector's name as part of its size's name."""
    return name.replace("_", "").lower()


def size_names(shapes, dims: dict, assigned, sequences) -> dict:
    """``{unknown size: a readable size symbol}`` for every unknown size of ``dims`` (name -> shape)."""
    resolved = {name: [shapes.resolve(d) for d in shape] if shape else [] for name, shape in dims.items()}
    used = {str(s) for shape in resolved.values() for d in shape for s in d.free_symbols if not is_unknown(s)}
    used |= set(dims)
    out = {}
    for name in naming_order(dims, resolved, assigned, sequences):
        shape = resolved[name]
        for axis, d in enumerate(shape):
            for u in sorted(d.free_symbols, key=str):
                if is_unknown(u) and u not in out:
                    vector = shape[1 - axis] == 1
                    candidate = unused(f"n_{vector_label(name)}" if vector else f"n_{name}_{'rc'[axis]}", used)
                    used.add(candidate)
                    out[u] = sp.Symbol(candidate, integer=True, positive=True)
    return out


def unused(candidate: str, used: set) -> str:
    """``candidate``, or with the first number that makes it unused (``n_h2``)."""
    if candidate not in used:
        return candidate
    return next(f"{candidate}{k}" for k in range(2, len(used) + 3) if f"{candidate}{k}" not in used)
