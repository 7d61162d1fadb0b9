r"""The value of an index-level expression of a claim, entry by entry: ``\sum_{i=1}^{m} \delta_i
\sigma'(z_i) x_{i+j-1}`` at ``j = 2`` of a run of the model.

An expression is compiled once into nested Python functions of a :class:`Binding` (the run's arrays, the
sizes, the index letters' values), then evaluated at every value of the free letters. The rules are the
model's: every array is 0 outside its range (``x_0``, ``x_{m+k}`` read 0), a sum runs over its bounds as
written (or, written without bounds, over the range of the axis its letter indexes bare), ``\delta_{a,b}``
with an index expression or a primed letter is Kronecker's delta, a function of the op table (``\sigma``,
``\tanh``, relu) and its derivatives (``\sigma'``) act on entries, ``f'(\cdot)`` reads the argument the model
gives f, and ``\frac{\partial L}{\partial Y_{o,i,j}}`` is the derived gradient. Values are floats, or SymPy
numbers and symbols for the exact check (the same code).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import ModelError, UnknownSymbolError
from symderive.latex.parsed import DOT_ARGUMENT, ONES, Sum, partial
from symderive.latex.words import activation_of
from symderive.ops.registry import ACTIVATIONS

#: the most terms the sums of a claim may add for one entry (a bound written wrong cannot run for ever)
MAX_TERMS = 100_000


class Outside:
    """The value of an entry outside its array's range. As a number it is 0 (``x_0`` adds nothing to a sum), and
    a term that holds it, through any function, vanishes (``\\sigma'(z_{m+1})``: the entry does not exist, so
    neither does the term), as in the model, where only entries in range are computed."""

    __array_ufunc__ = None  # numpy defers to the methods below

    def __mul__(self, other):
        return self

    __rmul__ = __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __mul__

    def __add__(self, other):
        return other

    __radd__ = __add__

    def __sub__(self, other):
        return -other

    def __rsub__(self, other):
        return other

    def __neg__(self):
        return self

    def __eq__(self, other):
        return other is self or other == 0

    def __hash__(self):
        return 0

    def __repr__(self):
        return "OUTSIDE"


OUTSIDE = Outside()


def plain(value):
    """A value with an entry outside its range read as 0."""
    return 0 if value is OUTSIDE else value


@dataclass
class Binding:
    """What an expression is evaluated at: ``arrays`` (environment key -> array), ``sizes`` (LaTeX size
    name -> int), ``letters`` (letter name -> int), ``symbolic`` (SymPy values)."""

    arrays: dict
    sizes: dict
    letters: dict
    symbolic: bool = False
    budget: list = field(default_factory=lambda: [MAX_TERMS])  # terms left for this entry, all sums together

    def bind(self, name: str, value: int) -> Binding:
        return Binding(self.arrays, self.sizes, {**self.letters, name: value}, self.symbolic, self.budget)


class Compiler:
    """Compiles parsed claim expressions against an :class:`~symderive.judge.index_subject.IndexSubject`."""

    def __init__(self, subject, scope: dict, implicit=frozenset()):
        self.subject = subject
        self.scope = dict(scope)  # letter -> compiled (first, last) of a free letter, or a sum's written bounds
        self.implicit = implicit

    def compile(self, e):
        for kind, rule in RULES:
            if isinstance(e, kind):
                return rule(self, e)
        if e.is_number:
            value, number = e, int(e) if e.is_Integer else float(e)
            return lambda b: value if b.symbolic else number
        raise ModelError(f"cannot evaluate {e} in an index-level claim (entries, numbers, + - \\cdot, sums, "
                         "functions of the op table and their derivatives)")

    def symbol(self, e: sp.Symbol):
        name = e.name
        if name in self.scope:
            return lambda b: b.letters[name]
        if name in self.subject.sizes:
            return lambda b: b.sizes[name]
        if e == DOT_ARGUMENT:
            raise ModelError("\\cdot stands for the argument of a function: write f'(\\cdot)")
        if name in self.subject.names or name in self.subject.where:
            return self.entry(name, ())
        raise UnknownSymbolError(name, self.subject.known, "an index-level claim")

    def indexed(self, e: sp.Indexed):
        return self.entry(e.base.label.name, tuple(e.indices))

    def entry(self, name: str, indices: tuple):
        """``name_{indices}``: an array's entry (0 outside its range), a definition, or ``\\delta`` upstream."""
        if name in self.subject.where:
            return self.definition(name, indices)
        array = self.subject.names.get(name)
        if array is None and name == "delta" and self.subject.upstream:
            array = self.subject.adjoints[self.subject.upstream]
        if array is None:
            raise UnknownSymbolError(name, self.subject.known, "an index-level claim")
        return self.read(array, indices, name)

    def read(self, array, indices: tuple, name: str):
        key, origins = array.key, array.origins
        if len(indices) != len(origins):
            raise ModelError(f"{name} has {len(origins)} indices but is written with {len(indices)}")
        parts = [self.index(sp.expand(i - o)) for i, o in zip(indices, origins)]

        def value(b):
            a = b.arrays[key]
            at = tuple(int(p(b)) for p in parts)
            if any(k < 0 or k >= n for k, n in zip(at, a.shape)):
                return OUTSIDE
            return a[at]
        return value

    def index(self, e):
        """An integer index expression (``2 i + p - 3``, ``m - S i + P``) as one function: a sum of integer
        coefficients times products of letters and sizes."""
        terms = []
        for term, c in sp.expand(e).as_coefficients_dict().items():
            if not c.is_Integer:
                return self.compile(e)
            names = [f.name for f in sp.Mul.make_args(term) if isinstance(f, sp.Symbol)]
            if len(names) != len(sp.Mul.make_args(term)) - (term == 1):
                return self.compile(e)
            terms.append((int(c), [self.symbol(f) for f in sp.Mul.make_args(term) if isinstance(f, sp.Symbol)]))

        def value(b):
            total = 0
            for c, factors in terms:
                for f in factors:
                    c *= f(b)
                total += c
            return total
        return value

    def definition(self, name: str, indices: tuple):
        letters, expr = self.subject.where[name]
        if len(letters) != len(indices):
            raise ModelError(f"{name} is defined with {len(letters)} indices but used with {len(indices)}")
        return self.compile(expr.subs(dict(zip(letters, indices)), simultaneous=True))

    def derivative(self, e):
        """``\\frac{\\partial L}{\\partial Y_{o,i,j}}`` inside a claim: the derived gradient."""
        of, wrt = e.args
        name = wrt.base.label.name if isinstance(wrt, sp.Indexed) else getattr(wrt, "name", str(wrt))
        if getattr(of, "name", "") != "L" or name not in self.subject.adjoints:
            raise ModelError(f"only derivatives of the loss L with respect to the model's arrays can be read here, "
                             f"not {e}")
        return self.read(self.subject.adjoints[name], tuple(wrt.indices) if isinstance(wrt, sp.Indexed) else (),
                         name)

    def add(self, e):
        parts = [self.compile(a) for a in e.args]
        if len(parts) == 2:
            first, second = parts
            return lambda b: first(b) + second(b)
        return lambda b: sum_of(p(b) for p in parts)

    def mul(self, e):
        args = list(e.args)
        parts = []
        while args:  # \mathbb{1}(z) (the step function, as the documents print relu') reads as ones * z
            a = args.pop(0)
            if a == ONES and args:
                parts.append((True, self.function("step", 0, [args.pop(0)])))
            else:
                parts.append((not isinstance(a, sp.KroneckerDelta), self.compile(a)))
        parts = [p for _, p in sorted(parts, key=lambda kp: kp[0])]  # Kronecker's deltas first: most are 0

        def value(b):
            out = 1
            for p in parts:
                out = out * p(b)
                if out is OUTSIDE:
                    return out
                if out == 0:
                    return 0
            return out
        return value

    def power(self, e):
        base, exp = self.compile(e.base), self.compile(e.exp)
        return lambda b: base(b) ** plain(exp(b))

    def kronecker(self, e):
        """``\\delta_{a,b}``: the upstream gradient when the model has a two-axis one and both are plain letters
        without primes; otherwise Kronecker's delta."""
        a, c = e.args
        plain = all(isinstance(x, sp.Symbol) and "'" not in x.name for x in (a, c))
        defined = self.subject.where.get("delta")
        if plain and (len(defined[0]) == 2 if defined else self.two_axis_upstream()):
            return self.entry("delta", (a, c))
        left, right = self.compile(a), self.compile(c)
        return lambda b: 1 if left(b) == right(b) else 0

    def two_axis_upstream(self) -> bool:
        array = self.subject.names.get("delta") or self.subject.adjoints.get(self.subject.upstream)
        return array is not None and len(array.origins) == 2

    def sum(self, e):
        body, limits = e.function, list(e.limits)
        inner = Compiler(self.subject, {**self.scope, **{v.name: (lo, hi) for v, lo, hi in limits}}, self.implicit)
        compiled = inner.compile(body)
        spans = [(v.name, *self.bounds(v, lo, hi, body)) for v, lo, hi in reversed(limits)]

        def value(b):
            return loop(compiled, spans, b)
        return value

    def bounds(self, v, lo, hi, body):
        """The compiled first and last value of the sum's letter ``v``: as written, or (implicit) the range of
        an axis ``v`` indexes bare in the body."""
        if v.name not in self.implicit:
            return self.compile(lo), self.compile(hi)
        for e in sp.preorder_traversal(body):
            if isinstance(e, sp.Indexed) and v in e.indices and e.base.label.name in self.subject.names:
                array = self.subject.names[e.base.label.name]
                axis = list(e.indices).index(v)
                origin = array.origins[axis]
                return axis_span(array.key, origin, axis)
        for e in sp.preorder_traversal(body):  # \delta_{p', p}: the range of the free letter p'
            if isinstance(e, sp.KroneckerDelta) and v in e.args:
                other = e.args[1] if e.args[0] == v else e.args[0]
                span = self.scope.get(getattr(other, "name", None))
                if span is not None and not isinstance(span[0], sp.Expr):
                    return span
        if v.name in self.subject.letters:  # where the model's sum over the letter runs
            first, count = self.subject.letters[v.name]
            return self.compile(sp.sympify(first)), self.compile(sp.sympify(first + count - 1))
        raise ModelError(f"the sum over {v} has no bounds and {v} indexes no array bare: write "
                         f"\\sum_{{{v}=1}}^{{n}}")

    def call(self, e):
        name = type(e).__name__
        primes = len(name) - len(name.rstrip("'"))
        return self.function(activation_of(name.rstrip("'")) or name.rstrip("'"), primes, list(e.args))

    def function(self, fname: str, primes: int, args: list):
        """``f(arg)``, ``f'(arg)`` (or ``f'(\\cdot)``: the argument the model gives f)."""
        if fname not in ACTIVATIONS or len(args) != 1 or primes > 2:
            raise ModelError(f"unknown function {fname} in an index-level claim; known: "
                             f"{', '.join(sorted(ACTIVATIONS))}")
        arg = args[0]
        if arg == DOT_ARGUMENT:
            if fname not in self.subject.activations:
                raise ModelError(f"{fname}'(\\cdot) names the argument of {fname} in the model, which has none")
            name, letters = self.subject.activations[fname]
            arg = self.subject_entry(name, letters)
        inner = self.compile(arg)
        numeric, exact = scalar_functions(fname, primes)

        def value(b):
            x = inner(b)
            return x if x is OUTSIDE else exact(x) if b.symbolic else numeric(x)
        return value

    def subject_entry(self, name: str, letters: tuple):
        missing = [v for v in letters if v.name not in self.scope]
        if missing:
            raise ModelError(f"f'(\\cdot) reads {name} at the model's letters ({', '.join(map(str, letters))}); "
                             f"{missing[0]} is not bound in the claim: write the argument out")
        return sp.IndexedBase(sp.Symbol(name, commutative=False))[letters] if letters else sp.Symbol(
            name, commutative=False)


def axis_span(key: str, origin, axis: int):
    """The compiled first and last index of an array's axis (its length read off the run's array)."""
    return (lambda b: origin), (lambda b: origin + b.arrays[key].shape[axis] - 1)


def sum_of(values):
    total = 0
    for v in values:
        total = total + v
    return total


def loop(compiled, spans, b: Binding):
    """The sum of ``compiled`` over the letters of ``spans`` (outermost first), counting the terms."""
    (name, lo, hi), rest = spans[0], spans[1:]
    first, last = int(lo(b)), int(hi(b))
    b.budget[0] -= max(0, last - first + 1)
    if b.budget[0] < 0:
        raise ModelError(f"the sums of the claim add more than {MAX_TERMS} terms for one entry at these sizes "
                         f"(the sum over {name} has {last - first + 1})")
    terms = [loop(compiled, rest, b.bind(name, k)) if rest else compiled(b.bind(name, k))
             for k in range(first, last + 1)]
    if b.symbolic:  # one Add of all terms, not one per term
        return sp.Add(*(plain(t) for t in terms))
    return sum_of(terms)


@functools.lru_cache(maxsize=None)
def scalar_functions(fname: str, primes: int):
    """The numeric and the exact function of f, f' or f'' (f' from the op's SymPy function's ``fdiff``)."""
    x = sp.Symbol("x")
    f = ACTIVATIONS[fname]
    expr = sp.diff(f.scalar(x), x, primes) if primes else f.scalar(x)
    modules = [{name: a.reference for name, a in ACTIVATIONS.items()}, "math"]
    numeric = f.reference if not primes else sp.lambdify(x, expr, modules=modules)
    return (lambda v: float(numeric(v))), (lambda v: expr.subs(x, v))


RULES = (
    (partial, Compiler.derivative),
    (Sum, Compiler.sum),
    (sp.Indexed, Compiler.indexed),
    (sp.KroneckerDelta, Compiler.kronecker),
    (sp.Symbol, Compiler.symbol),
    (sp.Add, Compiler.add),
    (sp.Mul, Compiler.mul),
    (sp.Pow, Compiler.power),
    (sp.Function, Compiler.call),
)
