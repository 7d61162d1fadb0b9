r"""The ranges of an index-level model as written: where each index letter runs (``i = 1, ..., m``) and
where each axis of each tensor has entries (``x_1, ..., x_{m+k-1}``), in the model's own index base.

They come from, in this order: the bounds of the sums (``\sum_{j=1}^{k}``), the declared ranges
(``--range 'i: 1..m'``) and shapes (``--shape 'X: C x M x N'``: axes counted from the index base), then
from each other until nothing changes: a letter that indexes an axis bare (``h_i``, ``W_{o,c,p,q}``)
gets the axis's range and gives its own to an axis that has none. An input read only at expressions
(``x_{i+j-1}``) gets the smallest range that holds every read, the valid convolution; a read below the
index base (padding, ``X_{c, 2i+p-1}`` from 0) needs the input's size declared.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import ModelError
from symderive.latex.indexed import IndexEquation, access_of, as_size, tensor_latex


@dataclass
class Ranges:
    """``letters[(k, v)]``: the range ``(first, last)`` of letter v in equation k; ``axes[name]``: a range per
    axis of each tensor (None while unknown); ``reads[k]``: the entries equation k reads."""

    equations: list
    base: int
    letters: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)
    reads: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)  # declared shapes: name -> entries per axis

    def variables(self, k: int) -> list:
        """The letters of equation k: its left side's, then its sums' and windows'."""
        eq = self.equations[k]
        return list(eq.letters) + [v for v in bound_letters(eq.rhs) if v not in eq.letters]

    def known(self) -> int:
        return sum(r is not None for r in self.letters.values()) + sum(
            r is not None for axes in self.axes.values() for r in axes)


def bound_letters(expr) -> list:
    """The letters summed over or maximised over in ``expr``, outermost first."""
    out = []
    for e in sp.preorder_traversal(expr):
        if isinstance(e, sp.Sum):
            out += [lim[0] for lim in reversed(e.limits) if lim[0] not in out]
        elif type(e).__name__ == "window_max":
            out += [v for v in e.args[1:] if v not in out]
    return out


def written_bounds(expr, implicit, windows=()) -> dict:
    """``{letter: (first, last)}`` of the sums with bounds written in ``expr`` and of the ``windows``
    (``\\max_{p=1}^{K}``: ``((letter, first, last), ...)``)."""
    out = {v: (as_size(lo), as_size(hi)) for v, lo, hi in windows}
    for e in sp.preorder_traversal(expr):
        if isinstance(e, sp.Sum):
            for v, lo, hi in e.limits:
                if v.name not in implicit:
                    out[v] = (as_size(lo), as_size(hi))
    return out


def entries(expr) -> list:
    """Every tensor entry ``(name, indices)`` read in ``expr``."""
    return [a for a in (access_of(e) for e in sp.preorder_traversal(expr)) if a is not None]


def infer_base(equations, declared_ranges: dict) -> int:
    """The index base the model is written in: 0 or 1, whichever more written lower bounds use (1 on a tie)."""
    lows = [lo for eq in equations for lo, _ in written_bounds(eq.rhs, eq.implicit, eq.windows).values()]
    lows += [lo for lo, _ in declared_ranges.values()]
    zeros, ones = sum(lo == 0 for lo in lows), sum(lo == 1 for lo in lows)
    return 0 if zeros > ones else 1


def resolve(equations: list[IndexEquation], ranges: dict, shapes: dict, base: int, defined: set) -> Ranges:
    """The range of every letter and of every axis (see the module's docstring); an error names what is missing."""
    r = Ranges(equations, base)
    for k, eq in enumerate(equations):
        r.reads[k] = entries(eq.rhs)
        bounds = written_bounds(eq.rhs, eq.implicit, eq.windows)
        for v in r.variables(k):
            declared = ranges.get(v.name)
            r.letters[(k, v)] = bounds.get(v) or ((as_size(declared[0]), as_size(declared[1])) if declared else None)
    r.counts = {name: [as_size(n) for n in dims] for name, dims in shapes.items()}
    for k, eq in enumerate(equations):
        for name, indices in [(eq.name, eq.letters)] + r.reads[k]:
            count = len(indices)
            axes = r.axes.setdefault(name, [None] * count)
            if len(axes) != count and indices:
                few, many = sorted((len(axes), count))
                raise ModelError(f"{tensor_latex(name)} is written with {few} and with {many} indices (in "
                                 f"{eq.source!r}): an array has one number of indices")
            if name in r.counts and len(r.counts[name]) != count:
                raise ModelError(f"{tensor_latex(name)} is declared with {len(r.counts[name])} axes but written "
                                 f"with {count} indices in {eq.source!r}")
    settle(r)
    for name, counts in r.counts.items():  # declared axes no letter gave a first index: from the base
        axes = r.axes.get(name, counts)
        r.axes[name] = [a or (sp.Integer(base), as_size(base + n - 1)) for a, n in zip(axes, counts)]
    settle(r)
    for name in sorted(r.axes):
        if name not in defined and None in r.axes[name]:
            hull(r, name)
            settle(r)
    missing(r)
    return r


def settle(r: Ranges) -> None:
    """Pass ranges between letters and the axes they index bare until nothing changes."""
    before = -1
    while before != r.known():
        before = r.known()
        for k, eq in enumerate(r.equations):
            for name, indices in [(eq.name, eq.letters)] + r.reads[k]:
                for axis, e in enumerate(indices):
                    key = (k, e)
                    if key not in r.letters:
                        continue
                    if r.letters[key] is None and r.axes[name][axis] is not None:
                        r.letters[key] = r.axes[name][axis]
                    elif r.letters[key] is not None and r.axes[name][axis] is None:
                        r.axes[name][axis] = axis_range(r, name, axis, r.letters[key])


def axis_range(r: Ranges, name: str, axis: int, span: tuple) -> tuple:
    """The range of an axis a letter of range ``span`` indexes bare: the letter's, or from its first value as
    many entries as declared."""
    counts = r.counts.get(name)
    if counts is None:
        return span
    return span[0], as_size(sp.expand(span[0] + counts[axis] - 1))


def hull(r: Ranges, name: str) -> None:
    """An input's unknown axes: from the index base to the largest index read (a read below the base
    needs the size declared)."""
    for axis, current in enumerate(r.axes[name]):
        if current is not None:
            continue
        lows, highs = [], []
        for k in range(len(r.equations)):
            for read_name, indices in r.reads[k]:
                if read_name == name:
                    low_high = extremes(r, k, indices[axis])
                    if low_high is None:
                        return
                    lows.append(low_high[0])
                    highs.append(low_high[1])
        below = [lo for lo in lows if not sp.simplify(lo - r.base).is_nonnegative]
        if below:
            raise ModelError(f"{tensor_latex(name)} is read at index {below[0]}, below {r.base} (padding?): declare "
                             f"its size, e.g. --shape '{name}: {' x '.join(['n'] * len(r.axes[name]))}', and every "
                             "entry outside it reads 0")
        r.axes[name][axis] = (sp.Integer(r.base), highs[0] if len(set(highs)) == 1 else sp.Max(*highs))


def extremes(r: Ranges, k: int, e) -> tuple | None:
    """The least and greatest value of the index expression ``e`` of equation k (None if a range is unknown)."""
    e = sp.expand(e)
    low = high = e
    for v in sorted(e.free_symbols & {v for (kk, v) in r.letters if kk == k}, key=str):
        span = r.letters[(k, v)]
        if span is None:
            return None
        c = e.coeff(v)
        up = c.is_positive or (not c.is_number and not c.could_extract_minus_sign())
        low = low.subs(v, span[0] if up else span[1])
        high = high.subs(v, span[1] if up else span[0])
    return as_size(sp.expand(low)), as_size(sp.expand(high))


def missing(r: Ranges) -> None:
    """Refuse a letter or an axis whose range is still unknown, saying how to give it."""
    for (k, v), span in r.letters.items():
        if span is None:
            raise ModelError(f"the range of the index {v} in {r.equations[k].source!r} is not known: give the sum "
                             f"bounds (\\sum_{{{v}={r.base}}}^{{n}}) or declare it (--range '{v}: {r.base}..n')")
    for name, axes in r.axes.items():
        if None in axes:
            raise ModelError(f"the size of {tensor_latex(name)} is not known: declare it (--shape '{name}: "
                             f"{' x '.join(['n'] * len(axes))}') or read it at a summed index")
