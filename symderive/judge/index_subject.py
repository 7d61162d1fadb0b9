r"""What index-level claims are judged against: an index program, its derived backward program, and how
the model writes its names, indices and sizes.

A subject comes from index-level LaTeX equations (:func:`subject_of_index_model`, the model's own notation
and index base) or from an index-level built-in (:func:`subject_of_index_derivation`: conv1d, conv2d,
pool2d, cnn in their documented notation, indices from 0 or from 1). Every array the derived formulas
compute can be named in a claim by its LaTeX name: the model's tensors (``x``, ``W``, ``h``), the adjoints
``\bar{z}``, the dilated arrays ``\tilde{\bar{Z}}``, the pooling mask ``M``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from symderive.errors import ModelError, SymderiveError
from symderive.index import evaluate as ie
from symderive.index.derive import IndexBackward, derive
from symderive.index.engine import IndexEngine
from symderive.index.program import IndexProgram
from symderive.index.render import symbol_latex
from symderive.latex.index_model import IndexModel
from symderive.latex.indexed import tensor_latex
from symderive.latex.names import base_name
from symderive.latex.reader import parse_sides, read_sides
from symderive.verify.index_checks import index_arguments, is_polynomial

#: the sizes of the two cases of a model read from LaTeX (strides and paddings get values of their own)
SIZE_VALUES = ((3, 4, 2, 5), (4, 2, 5, 3))
STRIDE_VALUES = (2, 3)
PADDING_VALUES = (1, 2)


@dataclass(frozen=True)
class Array:
    """An array a claim may name: its key in the interpreter's environment, the first index of each axis, its
    LaTeX name and its sizes (size symbols of the program)."""

    key: str
    origins: tuple
    tex: str = ""
    dims: tuple = ()


@dataclass
class IndexSubject:
    """One variant of an index-level model (``program``, ``backward``) with ``names`` (LaTeX name ->
    :class:`Array`), ``adjoints`` (LaTeX name -> :class:`Array` of its gradient), ``sizes`` (LaTeX name ->
    size symbol), the size ``cases`` (two; the first also for the exact check), ``activations`` (function ->
    ``(argument name, letters)``: what ``f'(\\cdot)`` reads), ``upstream`` (the name ``\\delta`` stands for the
    gradient of) and the definitions of ``where``."""

    program: IndexProgram
    backward: IndexBackward
    names: dict
    adjoints: dict
    sizes: dict
    cases: list
    base: int
    activations: dict = field(default_factory=dict)
    upstream: str = ""
    where: dict = field(default_factory=dict)
    tag: str = ""
    roles: dict = field(default_factory=dict)  # size symbol -> "stride" | "padding" | "size"
    letters: dict = field(default_factory=dict)  # letter -> (first, count): where the model's sums run
    gradients: tuple = ()  # the constants that are the gradient given to an abstract loss (random, not one-hot)

    runs: dict = field(default_factory=dict)  # (case, symbolic) -> the run (every claim reads the same)

    def given(self, sizes: dict, seed: int, exact: bool) -> dict:
        return given_gradient(self.program, self.gradients, sizes, seed, exact)

    @property
    def known(self) -> list[str]:
        return sorted(set(self.names) | set(self.sizes) | set(self.where) | {"L"})

    def run(self, case: int, symbolic: bool = False) -> ie.Env:
        """Forward and backward at size case ``case``: float64 normal arrays (seed = case), or exact values with
        ``symbolic`` (symbols for the arguments of a polynomial program, else distinct rationals)."""
        if (case, symbolic) not in self.runs:
            self.runs[(case, symbolic)] = self.computed(case, symbolic)
        return self.runs[(case, symbolic)]

    def computed(self, case: int, symbolic: bool) -> ie.Env:
        sizes = self.cases[case]
        if not symbolic:
            arrays = index_arguments(self.program, sizes, seed=case)
            arrays.update(self.given(sizes, case, exact=False))
            return ie.backward(self.backward, ie.forward(self.program, ie.Env(arrays, sizes)))
        arrays = index_arguments(self.program, sizes, seed=3, exact=True)
        arrays.update(self.given(sizes, 3, exact=True))
        if is_polynomial(self.program):
            shapes = {t.name: ie.Env({}, sizes).shape(t) for t in self.program.differentiated}
            arrays.update({name: symbol_array(name, shape) for name, shape in shapes.items()})
        env = ie.Env(arrays, sizes, symbolic=True)
        return ie.backward(self.backward, ie.forward(self.program, env))


def given_gradient(program: IndexProgram, names: tuple, sizes: dict, seed: int, exact: bool) -> dict:
    """The gradient an abstract loss is given (``\\delta``): normal entries (distinct rationals if ``exact``), not
    one-hot as a target."""
    out = {}
    for t in program.constants:
        if t.name in names:
            shape = ie.Env({}, sizes).shape(t)
            values = np.random.default_rng(seed + 100).standard_normal(shape)
            out[t.name] = (np.vectorize(lambda v: sp.Rational(round(v * 9973), 9973), otypes=[object])(values)
                           if exact else values)
    return out


def symbol_array(name: str, shape: tuple) -> np.ndarray:
    return np.array([sp.Symbol(f"{name}[{','.join(map(str, k))}]") for k in np.ndindex(shape)],
                    dtype=object).reshape(shape)


@functools.lru_cache(maxsize=4096)
def latex_name(tex: str) -> str | None:
    """The name the index-level reader gives a LaTeX name (``\\bar{z}`` -> ``zbar``), or None."""
    try:
        sides, _ = read_sides(tex, index_level=True)
    except SymderiveError:
        return None
    return base_name(sides[0]) if len(sides) == 1 and isinstance(sides[0], (sp.Symbol, sp.Indexed)) else None


@functools.lru_cache(maxsize=4096)
def size_name(tex: str) -> str | None:
    """The name a size gets in a claim (``K_{h}`` -> ``K_h``: a label, as no letter of a claim is ``h``)."""
    try:
        sides = parse_sides(tex)
    except SymderiveError:
        return None
    return sides[0].name if len(sides) == 1 and isinstance(sides[0], sp.Symbol) else None


def arrays_of(backward: IndexBackward, origin_of) -> tuple[dict, dict]:
    """``(names, adjoints)``: every array of the forward and backward programs by its LaTeX name, and the
    gradient of each tensor by the tensor's LaTeX name; ``origin_of(tensor)`` gives the first indices."""
    names, adjoints = {}, {}
    program = backward.program
    tensors = {t.name: t for op in program.ops for t in (op.out, *op.reads)}
    tensors.update({t.name: t for op in program.ops for t in (getattr(op, "mask", None), getattr(op, "probs", None))
                    if t is not None})
    for t in tensors.values():
        add_name(names, t, origin_of(t))
    for a in backward.adjoints:
        array = Array(a.adjoint.name, origin_of(a.tensor), a.adjoint.tex, a.tensor.dims)
        adjoints[latex_name(a.tensor.tex)] = array
        names.setdefault(latex_name(a.adjoint.tex), array)
        for share in a.shares:
            for d in getattr(share, "definitions", ()):
                for t in (d.out, *(inner.out for inner in d.factors if hasattr(inner, "out"))):
                    add_name(names, t, origin_of(t))
    return names, adjoints


def add_name(names: dict, t, origins) -> None:
    name = latex_name(t.tex) if t.tex else None
    if name is not None:
        names.setdefault(name, Array(t.name, origins, t.tex, t.dims))


def summed_letters(program: IndexProgram, base: int, sizes: dict) -> dict:
    """Letter name -> ``(first, count)`` of the sums of the program (the count in a claim's size names), for
    a letter a claim sums over without bounds and that indexes no array bare."""
    names = {s: sp.Symbol(name, integer=True) for name, s in sizes.items()}
    out = {}
    for op in program.ops:
        for term in getattr(op, "terms", ()):
            for v, n in term.sums:
                out.setdefault(v.name, (base, sp.sympify(n).subs(names)))
        for v, n in getattr(op, "window", ()):
            out.setdefault(v.name, (base, sp.sympify(n).subs(names)))
    return out


def accesses(program: IndexProgram) -> list:
    """Every entry the program's operations read (the factors of its sums, the window a maximum reads)."""
    out = []
    for op in program.ops:
        out += [f for term in getattr(op, "terms", ()) for f in term.factors]
        out += [op.read] if hasattr(op, "read") else []
    return out


def size_roles(program: IndexProgram) -> dict:
    """Each size symbol's role: a ``stride`` multiplies a letter in an index, a ``padding`` is added to one,
    any other is a ``size``."""
    roles = {}
    for f in accesses(program):
        for e in f.index:
            for s in sp.expand(e).free_symbols:
                if s.is_positive:
                    roles.setdefault(s, "padding" if sp.expand(e).coeff(s).is_number else "stride")
    return roles


def model_cases(sizes, roles: dict) -> list[dict]:
    """Two cases: every size a small value (the two cases differ), strides and paddings their own values."""
    cases = []
    for k in range(2):
        plain = iter(SIZE_VALUES[k] * 8)
        case = {}
        for s in sizes:
            role = roles.get(s, "size")
            case[s] = STRIDE_VALUES[k] if role == "stride" else PADDING_VALUES[k] if role == "padding" else next(plain)
        cases.append(case)
    return cases


def subject_of_index_model(m: IndexModel, where=()) -> IndexSubject:
    """A model read by :func:`symderive.latex.index_model.build_index_model`, in its own notation."""
    by_engine = {t.name: name for name, t in m.tensors.items()}

    def origin_of(t):
        name = by_engine.get(t.name)
        return tuple(m.origins[name]) if name in m.origins else (m.base,) * len(t.dims)

    backward = derive(m.program)
    names, adjoints = arrays_of(backward, origin_of)
    for t in m.program.given:  # the given gradient: \bar{Y} in a document, as the claims write it here (\delta)
        key, name = latex_name(t.tex), by_engine[t.name]
        if key in names:
            names[name] = replace(names.pop(key), tex=tensor_latex(name))
        if key in adjoints:
            adjoints[name] = adjoints.pop(key)
    roles = size_roles(m.program)
    activations = {fname: (arg, letters) for _, (fname, arg, letters) in m.activations.items()}
    letters = {v.name: (lo, sp.expand(hi - lo + 1)) for (_, v), (lo, hi) in m.ranges.items()}
    return IndexSubject(m.program, backward, names, adjoints, {s.name: s for s in m.sizes},
                        model_cases(m.sizes, roles), m.base, activations, m.upstream, roles=roles,
                        gradients=tuple(t.name for t in m.program.constants),
                        letters={k: (lo, n.subs({s: sp.Symbol(s.name, integer=True) for s in n.free_symbols}))
                                 for k, (lo, n) in letters.items()})


def subject_of_index_derivation(d, index_base: int = 0) -> list[IndexSubject]:
    """An index-level built-in in its documented notation (one subject per variant: max and average pooling)."""
    engine = d.engine
    if not isinstance(engine, IndexEngine):
        raise ModelError(f"{d.name} is a matrix-level derivation")
    cases = [dict(c) for c in engine.sizes.symbolic]
    for c in cases:
        for ds in engine.derived:
            c[ds.symbol] = int(ds.expr.subs(c))
    out = []
    for tag, program in engine.variants:
        backward = d.backwards[tag] if hasattr(d, "backwards") else derive(program)
        names, adjoints = arrays_of(backward, lambda t: (index_base,) * len(t.dims))
        symbols = {s for c in cases for s in c}
        sizes = {size_name(symbol_latex(s)) or s.name: s for s in symbols}
        upstream = next((t for t in program.ops[-1].reads if t not in program.arguments), None)
        out.append(IndexSubject(program, backward, names, adjoints, sizes, cases, index_base,
                                activations_of(program), latex_name(upstream.tex) if upstream else "",
                                tag=tag if len(engine.variants) > 1 else "",
                                roles=size_roles(program), letters=summed_letters(program, index_base, sizes)))
    return out


def activations_of(program: IndexProgram) -> dict:
    """Function -> ``(argument name, letters)`` of the program's elementwise operations."""
    return {op.fname: (latex_name(op.arg.tex), tuple(sp.Symbol(v.name, integer=True) for v in op.index))
            for op in program.ops if type(op).__name__ == "Pointwise"}
