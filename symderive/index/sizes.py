"""The sizes of an index program written by a user: which are read off the arrays, which are computed
from others, which are keyword options, and the sizes the checks run at.

A program states its tensors' dimensions as size expressions. Of the symbols in them,

* a symbol that is a whole dimension of an argument (``X: C x H x W``) is *read off* the arrays;
* a dimension that is an expression (``floor((H + 2 P - K) / S) + 1``, or a number such as 3) is a
  *derived* size: it gets a name (``N_1``, ...), a formula in the exported module, and an error naming
  the arguments when it comes out empty or an argument holds it with another value;
* every other symbol (a stride ``S`` or padding ``P`` written as a symbol, an output length ``m`` no
  argument holds) is a keyword *option* of the exported functions.

The checks run at :func:`default_cases` unless the user gives sizes: small distinct sizes, kernels
(sizes of summed variables that slide, ``p`` in ``X[S i + p - P]``) smaller than the arrays they slide
over, options at 2 (a stride, a dilation) or 1 (a padding) for the symbolic proof, and at two settings
for the numeric checks, grown until every output is non-empty.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass

import sympy as sp

from symderive.errors import ModelError
from symderive.index.codegen import DerivedSize, Option
from symderive.index.engine import Cases
from symderive.index.program import (
    Contract,
    IndexProgram,
    Pointwise,
    SoftmaxCrossEntropy,
    WindowMax,
    map_sizes,
    over_one_denominator,
    tensors_of,
)

#: Names the exported module and the printed torch program use themselves.
RESERVED = {"np", "torch", "arrays", "value", "loss", "grad", "forward", "read", "grid", "L"}


@dataclass(frozen=True)
class SizePlan:
    """``program`` with every compound dimension named; ``shapes`` (argument -> size names), the
    ``derived`` sizes (in dependency order) and the keyword ``options``."""

    program: IndexProgram
    shapes: dict
    derived: tuple
    options: tuple

    @property
    def read_off(self) -> list[sp.Symbol]:
        names = {n for dims in self.shapes.values() for n in dims}
        derived = {str(d.symbol) for d in self.derived}
        return sorted((s for s in size_symbols(self.program) if s.name in names - derived), key=lambda s: s.name)


def index_variables(program: IndexProgram) -> set:
    """The index variables of every operation (output indices, summed and window variables)."""
    out = set()
    for op in program.ops:
        if isinstance(op, Contract):
            out |= set(op.index) | {v for t in op.terms for v, _ in t.sums}
        elif isinstance(op, WindowMax):
            out |= set(op.index) | {v for v, _ in op.window}
        elif isinstance(op, Pointwise):
            out |= set(op.index)
        elif isinstance(op, SoftmaxCrossEntropy):
            out.add(op.index)
    return out


def size_symbols(program: IndexProgram) -> set:
    """Every symbol of the program that is not an index variable: the sizes and options."""
    found = set()
    for t in tensors_of(program):
        for d in t.dims:
            found |= sp.sympify(d).free_symbols
    for op in program.ops:
        for term in getattr(op, "terms", ()):
            found |= {s for _, n in term.sums for s in sp.sympify(n).free_symbols}
            found |= sp.sympify(term.coeff).free_symbols
            found |= {s for f in term.factors for i in f.index for s in i.free_symbols}
        if isinstance(op, WindowMax):
            found |= {s for i in op.read.index for s in i.free_symbols}
            found |= {s for _, n in op.window for s in sp.sympify(n).free_symbols}
    return found - index_variables(program)


def plan_sizes(program: IndexProgram, derived: dict | None = None, defaults: dict | None = None) -> SizePlan:
    """Name the compound dimensions, and sort the sizes into read off, derived and options.

    ``derived`` maps size symbols of the program to their formula (``{H_out: (H - K) // S + 1}``);
    ``defaults`` maps option names to the default value of the exported functions' keyword."""
    derived = dict(derived or {})
    named = name_compound_dims(program, derived)
    program = map_sizes(program, {e: s for s, e in named.items()})
    formulas = {**{s: sp.sympify(e) for s, e in derived.items()}, **named}
    for s, e in list(formulas.items()):
        formulas[s] = e.xreplace({inner: t for t, inner in named.items() if t != s})
    shapes = {a.name: tuple(dim_name(d, a) for d in a.dims) for a in program.arguments}
    formulas = solved(formulas, shapes, program)
    read_off = {sp.Symbol(n) for dims in shapes.values() for n in dims}
    sizes = size_symbols(program) | {s for e in formulas.values() for s in e.free_symbols}
    check_names(program, sizes)
    options = tuple(option_of(s, (defaults or {}).get(s.name)) for s in sorted(sizes, key=lambda s: s.name)
                    if s not in formulas and sp.Symbol(s.name) not in read_off)
    return SizePlan(program, shapes, tuple(derived_in_order(formulas)), options)


def name_compound_dims(program: IndexProgram, derived: dict) -> dict:
    """``{N_k: expression}`` for every dimension that is neither a symbol nor given in ``derived``."""
    given = {sp.sympify(e): s for s, e in derived.items()}
    compound = []
    for t in tensors_of(program):
        for d in map(sp.sympify, t.dims):
            if not d.is_Symbol and d not in given and d not in compound:
                compound.append(d)
    taken = {s.name for s in size_symbols(program)} | {t.name for t in tensors_of(program)} \
        | {v.name for v in index_variables(program)}
    names = (f"N_{k}" for k in range(1, 1000) if f"N_{k}" not in taken)
    return {sp.Symbol(next(names), integer=True, positive=True): d for d in compound}


def solved(formulas: dict, shapes: dict, program: IndexProgram) -> dict:
    """An argument's dimension written through one size no argument holds (``x: m + k - 1``, m the
    output length) is read off the argument instead, and that size computed from it (``m = N_1 - k + 1``)."""
    held = {n for dims in shapes.values() for n in dims}
    for s, e in list(formulas.items()):
        bare = {t for t in size_symbols(program) | e.free_symbols if t.name in held and t not in formulas}
        unknown = [u for u in e.free_symbols if u not in bare and u not in formulas]
        if s.name not in held or len(unknown) != 1 or sp.expand(e).coeff(unknown[0]) not in (1, -1) \
                or not sp.expand(e).is_polynomial(unknown[0]) or sp.degree(sp.expand(e), unknown[0]) != 1:
            continue
        (u,) = unknown
        del formulas[s]
        formulas[u] = sp.expand(sp.solve(sp.Eq(s, e), u)[0])
        held.add(u.name)
    return formulas


def dim_name(d, tensor) -> str:
    if not sp.sympify(d).is_Symbol:
        raise ModelError(f"{tensor.name}: the dimension {d} has no name")
    return str(d)


def check_names(program: IndexProgram, sizes: set) -> None:
    """Size names become Python names in the exported module: they must be identifiers, distinct from
    the tensors' names and from the names the module uses itself."""
    tensors = {t.name for t in tensors_of(program)}
    for s in sizes:
        if not s.name.isidentifier() or keyword.iskeyword(s.name) or s.name in RESERVED | tensors:
            raise ModelError(f"the size {s.name} cannot be named so in the exported module: rename it "
                             f"(not a tensor's name, not one of {', '.join(sorted(RESERVED))})")


def option_of(s: sp.Symbol, default) -> Option:
    """A keyword option: at least 1 for a positive symbol (a stride), else at least 0 (a padding)."""
    minimum = 1 if s.is_positive else 0
    return Option(s.name, (s,), default, minimum, f"the size {s.name}")


def derived_in_order(formulas: dict) -> list[DerivedSize]:
    """Each derived size after the derived sizes its formula reads."""
    out, done = [], set()
    pending = dict(formulas)
    while pending:
        ready = [s for s, e in pending.items() if not (e.free_symbols & (set(pending) - {s}))]
        if not ready:
            raise ModelError(f"the sizes {', '.join(map(str, pending))} are defined through each other")
        for s in sorted(ready, key=lambda s: s.name):
            expr = pending.pop(s)
            out.append(DerivedSize(s, expr, sp.sstr(over_one_denominator(expr))))
            done.add(s)
    return out


# ---------------------------------------------------------------------------------------------
# Where the checks run.


def sliding_sizes(program: IndexProgram) -> set:
    """The ranges of summed variables read together with another variable in one index (kernel taps)."""
    out = set()
    for op in program.ops:
        terms = op.terms if isinstance(op, Contract) else (op.as_contract().terms if isinstance(op, WindowMax) else ())
        for term in terms:
            for v, n in term.sums:
                if any(v in i.free_symbols and len(i.free_symbols & index_variables(program)) > 1
                       for f in term.factors for i in f.index):
                    out |= sp.sympify(n).free_symbols
    return out


def lengths(program: IndexProgram) -> set:
    """The symbols that are an array's dimension or a sum's range (not only a stride or an offset)."""
    out = set()
    for t in tensors_of(program):
        out |= {d for d in map(sp.sympify, t.dims) if d.is_Symbol}
    for op in program.ops:
        for term in getattr(op, "terms", ()):
            out |= {sp.sympify(n) for _, n in term.sums if sp.sympify(n).is_Symbol}
    return out


def default_cases(plan: SizePlan) -> Cases:
    """One symbolic case and two numeric ones (see the module docstring)."""
    taps = sliding_sizes(plan.program)
    symbolic = grown_case(plan, taps, tap=2, size=3, option=(2, 1), spread=False)
    numeric = (grown_case(plan, taps, tap=3, size=5, option=(1, 0), spread=True),
               grown_case(plan, taps, tap=3, size=6, option=(2, 1), spread=True))
    return Cases((symbolic,), numeric)


def grown_case(plan: SizePlan, taps: set, tap: int, size: int, option: tuple, spread: bool) -> dict:
    """Kernel sizes ``tap``, options ``option`` (positive, non-negative), the other sizes from ``size``
    (distinct with ``spread``; an option that is a length, as the others), grown by one until every
    derived size is at least 1."""
    sized = plan.read_off + [s for o in plan.options for s in o.symbols if s in lengths(plan.program)]
    for grow in range(16):
        case = {}
        for o in plan.options:
            (s,) = o.symbols
            case[s] = max(o.minimum, option[0] if s.is_positive else option[1])
        for k, s in enumerate(sized):
            case[s] = tap if s in taps else size + grow + (k % 3 if spread else 0)
        values = dict(case)
        for d in plan.derived:
            values[d.symbol] = int(d.expr.subs(values))
        if all(values[d.symbol] >= 1 for d in plan.derived):
            return case
    raise ModelError("no small sizes give every output of the model at least one entry; give the sizes of "
                     "the checks (sizes=...)")
