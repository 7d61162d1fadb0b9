r"""Diagnosing a wrong index-level claim: the usual mistakes, tried on the claim one at a time; the first that
makes the claim hold at both size cases is named, in the model's notation, with the corrected formula.

The mistakes (each a change of one entry or one sum of the claim):

* a channel pair transposed: ``W_{c,o,p,q}`` for ``W_{o,c,p,q}`` (any two axes of one entry swapped);
* the kernel flipped: an axis read backwards, ``w_{K-1-p}`` for ``w_p`` (a convolution written where the model
  has a cross-correlation, or the reverse);
* a stride or dilation forgotten: a letter without the model's factor, ``x_{i+p}`` for ``x_{2i+p}``;
* an index off by one: ``x_{i+j}`` for ``x_{i+j-1}``;
* a missing boundary term: a sum that stops one short or starts one late (``\sum_{i=1}^{m-1}``).
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import SymderiveError
from symderive.judge.compare import REL_TOL
from symderive.judge.index_claims import IndexClaim, compare, failing
from symderive.judge.index_latex import IndexClaimPrinter, claim_latex, index_text
from symderive.judge.index_subject import IndexSubject, accesses
from symderive.latex.parsed import Sum

UNEXPLAINED = "no usual mistake (an index off by one, a flipped kernel, a forgotten stride, a transposed pair, " \
              "a sum one term short) explains the difference"


def diagnose(claim: IndexClaim, subject: IndexSubject, envs: list) -> tuple[str, str]:
    """``(diagnosis, corrected formula)``: the first usual mistake whose correction makes the claim hold."""
    printer = IndexClaimPrinter(latex_names(subject), claim.implicit)
    wrong = failing(claim, subject, envs[0])  # a correction must fix these entries first
    for describe, rhs in mistakes(claim, subject):
        try:
            if failing(claim, subject, envs[0], rhs, at=wrong, most=1):
                continue
            if compare(claim, subject, envs, rhs).worst > REL_TOL:
                continue
        except (SymderiveError, ArithmeticError):  # a change that cannot be evaluated explains nothing
            continue
        return describe(printer), claim_latex(claim.lhs_text, rhs, latex_names(subject), claim.implicit)
    return UNEXPLAINED, ""


def latex_names(subject: IndexSubject) -> dict:
    return {name: array.tex for name, array in subject.names.items() if array.tex}


def entries_of(rhs) -> list:
    return sorted({e for e in sp.preorder_traversal(rhs) if isinstance(e, sp.Indexed)}, key=sp.default_sort_key)


def replaced(rhs, old, new):
    return rhs.xreplace({old: new})


def with_index(e, axis: int, value):
    """The entry (or Kronecker's delta) ``e`` with the index along ``axis`` replaced by ``value``."""
    indices = list(indices_of(e))
    indices[axis] = value
    return rebuilt(e, indices)


def indices_of(e) -> tuple:
    return tuple(e.indices) if isinstance(e, sp.Indexed) else tuple(e.args)


def rebuilt(e, indices):
    return e.base[tuple(indices)] if isinstance(e, sp.Indexed) else sp.KroneckerDelta(*indices)


def deltas_of(rhs) -> list:
    """Kronecker's deltas with an index expression (``\\delta_{m, 2i+p}``: where a stride can be forgotten)."""
    return sorted({e for e in sp.preorder_traversal(rhs) if isinstance(e, sp.KroneckerDelta)}, key=sp.default_sort_key)


def mistakes(claim: IndexClaim, subject: IndexSubject):
    """``(describe(printer), corrected right side)`` of every usual mistake, most specific first."""
    rhs = claim.rhs
    for e in entries_of(rhs):
        yield from swaps(rhs, e)
    for e in entries_of(rhs):
        yield from flips(rhs, e, subject)
    for e in entries_of(rhs):
        yield from reversed_letters(rhs, e, claim, subject)
    for e in entries_of(rhs) + deltas_of(rhs):
        yield from strides(rhs, e, subject, claim.letters)
    yield from strides_everywhere(rhs, subject, claim.letters)
    for e in entries_of(rhs) + deltas_of(rhs):
        yield from off_by_one(rhs, e)
    for s in sorted({x for x in sp.preorder_traversal(rhs) if isinstance(x, Sum)}, key=sp.default_sort_key):
        yield from sum_bounds(rhs, s, claim)


def change(kind: str, old, new, why: str = ""):
    def describe(printer: IndexClaimPrinter) -> str:
        return f"{kind}: {printer.doprint(old)} should be {printer.doprint(new)}{why}"
    return describe


def swaps(rhs, e: sp.Indexed):
    n = len(e.indices)
    for a in range(n):
        for b in range(a + 1, n):
            indices = list(e.indices)
            indices[a], indices[b] = indices[b], indices[a]
            if indices == list(e.indices):
                continue
            new = e.base[tuple(indices)]
            kind = "a transposed channel pair" if (a, b) == (0, 1) and n >= 3 else "two indices transposed"
            yield change(kind, e, new), replaced(rhs, e, new)


def flips(rhs, e: sp.Indexed, subject: IndexSubject):
    array = subject.names.get(e.base.label.name)
    if array is None or not array.dims:
        return
    sizes = reader_sizes(subject)
    candidates = [(k,) for k in range(len(e.indices))]
    if len(e.indices) >= 3:
        candidates.append(tuple(range(2, len(e.indices))))
    for axes in candidates:
        new = e
        for k in axes:
            last = array.origins[k] + sp.sympify(array.dims[k]).subs(sizes) - 1
            new = with_index(new, k, sp.expand(array.origins[k] + last - e.indices[k]))
        yield (change("the kernel is flipped", e, new, " (a convolution written where the model has a "
                      "cross-correlation, or the reverse)"), replaced(rhs, e, new))
    for k, index in enumerate(e.indices):  # V_{i-n+1} for V_{n-i+1}: the difference of two letters reversed
        if len(sp.expand(index).free_symbols - set(sizes.values())) > 1:
            new = with_index(e, k, sp.expand(2 * array.origins[k] - index))
            yield (change("the kernel is flipped", e, new, " (the difference of the indices is reversed: a "
                          "convolution written where the model has a cross-correlation, or the reverse)"),
                   replaced(rhs, e, new))


def reversed_letters(rhs, e: sp.Indexed, claim: IndexClaim, subject: IndexSubject):
    """A summed letter that runs the wrong way in an index (``z_{n+j-1}`` for ``z_{n-j+1}``): the kernel flipped
    in the input gradient (a cross-correlation where it is a convolution, or the reverse)."""
    firsts = {v: lo for s in sp.preorder_traversal(rhs) if isinstance(s, Sum) for v, lo, _ in s.limits
              if v.name not in claim.implicit}
    for k, index in enumerate(e.indices):
        for v in sorted(index.free_symbols, key=str):
            c = sp.expand(index).coeff(v)
            if v.name in subject.sizes or c == 0 or v in claim.letters:
                continue
            lo = firsts.get(v, subject.base)
            new = with_index(e, k, sp.expand(index - 2 * c * v + 2 * c * lo))
            yield (change("the kernel is flipped", e, new, f" ({v} runs the wrong way: a convolution written where "
                          "it is a cross-correlation, or the reverse)"), replaced(rhs, e, new))


def reader_sizes(subject: IndexSubject) -> dict:
    """Size symbol of the program -> the symbol a claim writes it with."""
    return {s: sp.Symbol(name, integer=True) for name, s in subject.sizes.items()}


def model_strides(subject: IndexSubject) -> dict:
    """The factors the model multiplies its letters by in an index (strides, dilations), as a claim writes them,
    each with the names of the letters it multiplies."""
    sizes = reader_sizes(subject)
    out = {}
    for f in accesses(subject.program):
        for i in f.index:
            for v in sp.expand(i).free_symbols:
                c = sp.expand(i).coeff(v)
                if not v.is_positive and c not in (0, 1, -1):
                    out.setdefault(c.subs(sizes), set()).add(v.name)
    return out


def strided(index, s, letters: set, subject: IndexSubject, free) -> sp.Expr:
    """``index`` with each of its letters the model multiplies by ``s`` (any summed letter if none is named so)
    multiplied by ``s``."""
    candidates = [v for v in index.free_symbols if v.name not in subject.sizes and v not in free
                  and sp.expand(index).coeff(v) in (1, -1)]
    named = [v for v in candidates if v.name in letters]
    return sp.expand(index.subs({v: s * v for v in (named or candidates)}, simultaneous=True))


def strides(rhs, e, subject: IndexSubject, free=()):
    factors = model_strides(subject)
    for k, index in enumerate(indices_of(e)):
        for v in sorted(index.free_symbols, key=str):
            if sp.expand(index).coeff(v) not in (1, -1) or v.name in subject.sizes or v in free:
                continue
            for s in factors:
                new = with_index(e, k, sp.expand(index.subs(v, s * v)))
                yield (change(f"the stride or dilation {sp.latex(s)} is missing", e, new), replaced(rhs, e, new))
    windows = window_axes(e)
    for s, letters in factors.items() if len(windows) > 1 else ():  # forgotten along every axis of the window
        new = rebuilt(e, [strided(i, s, letters, subject, free) if k in windows else i
                          for k, i in enumerate(indices_of(e))])
        if new != e:
            yield (change(f"the stride or dilation {sp.latex(s)} is missing", e, new), replaced(rhs, e, new))


def strides_everywhere(rhs, subject: IndexSubject, free=()):
    """A stride forgotten in every index expression of the claim at once (``\\delta_{m, i+p} \\delta_{n, j+q}``)."""
    for s, letters in model_strides(subject).items():
        mapping = {}
        for e in sp.preorder_traversal(rhs):
            if isinstance(e, (sp.Indexed, sp.KroneckerDelta)):
                new = rebuilt(e, [strided(i, s, letters, subject, free) if isinstance(sp.expand(i), sp.Add) else i
                                  for i in indices_of(e)])
                if new != e:
                    mapping[e] = new
        if len(mapping) > 1:
            def describe(printer, s=s, mapping=mapping):
                pairs = "; ".join(f"{printer.doprint(a)} should be {printer.doprint(b)}" for a, b in mapping.items())
                return f"the stride or dilation {sp.latex(s)} is missing: {pairs}"
            yield describe, rhs.xreplace(mapping)


def off_by_one(rhs, e):
    for k, index in enumerate(indices_of(e)):
        for d in (1, -1):
            new = with_index(e, k, sp.expand(index + d))
            yield change("an index off by one", e, new), replaced(rhs, e, new)
    windows = window_axes(e)
    if len(windows) > 1:  # the same slip along every axis of the window
        for d in (1, -1):
            new = rebuilt(e, [sp.expand(i + d) if k in windows else i for k, i in enumerate(indices_of(e))])
            yield change("indices off by one", e, new), replaced(rhs, e, new)


def window_axes(e) -> list[int]:
    """The axes read at an expression (a position in a window: ``2i + p - 3``), not at a bare letter."""
    return [k for k, i in enumerate(indices_of(e)) if isinstance(sp.expand(i), sp.Add)]


def sum_bounds(rhs, s: Sum, claim: IndexClaim):
    for k, (v, lo, hi) in enumerate(s.limits):
        if v.name in claim.implicit:
            continue
        for new_lo, new_hi, what in ((lo, hi + 1, "stops one term early"), (lo - 1, hi, "starts one term late"),
                                     (lo, hi - 1, "runs one term too far"), (lo + 1, hi, "starts one term early")):
            limits = list(s.limits)
            limits[k] = (v, new_lo, new_hi)
            new = Sum(s.function, *limits)

            def describe(printer, v=v, lo=new_lo, hi=new_hi, what=what):
                missing = "a missing boundary term" if what in ("stops one term early", "starts one term late") \
                    else "a sum one term too long"
                return (f"{missing}: the sum over {v} {what}; it runs over {v} = {index_text(lo, printer)}, "
                        rf"\dots, {index_text(hi, printer)}")
            yield describe, replaced(rhs, s, new)
