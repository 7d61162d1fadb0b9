r"""Index-level models read from LaTeX: equations entry by entry -> an :class:`~symderive.index.program.IndexProgram`.

    >>> m = build_index_model([r"h_i = \sigma\left(\sum_{j=1}^{k} V_j x_{i+j-1}\right)", r"L = \sum_{i=1}^{m} h_i"])
    >>> m.program.arguments   # V (k entries) and x (m + k - 1 entries)

Each equation is one operation of the program:

* ``Y_{o,i,j} = \sum ... W_{o,c,p,q} X_{c, S i + p - P, S j + q - P} + b_o``: a sum of products of entries
  (a contraction: convolution, dense layer, average pooling, the loss ``L = \sum_{o,i,j} G_{o,i,j} Y_{o,i,j}``);
* ``h_i = \sigma(z_i)``: an elementwise function of the op table on one entry, or on a sum of products, whose
  value then gets a name of its own (``z``, the argument ``\sigma'(\cdot)`` stands for in a claim);
* ``P_{c,i,j} = \max_{p,q} X_{c, 2i+p, 2j+q}``: the maximum over a window (max pooling);
* ``L = \ell(Y)``: an abstract loss, whose gradient a claim writes ``\delta_{o,i,j}`` or
  ``\frac{\partial L}{\partial Y_{o,i,j}}`` (the program's loss is ``\sum \delta \odot Y``, ``\delta`` given).

Indices are translated to the engine's 0-based ranges exactly: a letter that runs over ``lo..hi`` becomes
``v - lo`` over ``0..hi-lo``, an axis with entries ``lo..hi`` is read at ``index - lo``; every tensor is
0 outside its range (zero padding).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp

from symderive.errors import ModelError
from symderive.index.program import Contract, IndexProgram, Pointwise, Tensor, Term, WindowMax, index_symbols
from symderive.latex.identifiers import identifier
from symderive.latex.index_ranges import Ranges, bound_letters, infer_base, resolve
from symderive.latex.indexed import (
    IndexEquation,
    as_size,
    is_scalar_name,
    read_index_equation,
    read_index_shapes,
    read_ranges,
    tensor_latex,
)
from symderive.latex.parsed import Sum, window_max
from symderive.latex.words import LOSS_NAMES, activation_of

SHAPES_OF_TERMS = ("an index-level right side is a sum of products of entries and numbers (\\sum_{j} V_j "
                   "x_{i+j-1} + b), an elementwise function of one (\\sigma(...)), or \\max_{p,q} of one entry")


@dataclass(frozen=True)
class IndexModel:
    """The program and how the model writes it: ``tensors`` (LaTeX-side name -> engine tensor), ``origins``
    (name -> the first index of each axis as written), ``ranges`` (``(equation, letter)`` -> ``(first, last)``),
    the index ``base``, the ``sizes`` (size symbols), ``activations`` (output name -> ``(function, argument
    name, letters)``: what ``\\sigma'(\\cdot)`` stands for), ``upstream`` (the name of the gradient given to an
    abstract loss, or of the output the loss reads), the ``equations`` as read and ``notes`` on what was assumed."""

    program: IndexProgram
    tensors: dict
    origins: dict
    ranges: dict
    base: int
    sizes: tuple
    activations: dict = field(default_factory=dict)
    upstream: str = ""
    equations: tuple = ()
    notes: tuple = ()

    def __iter__(self):  # program, info = build_index_model(...)
        return iter((self.program, self))

    def engine_index(self, name: str, indices) -> tuple:
        """The engine's (0-based) index of the entry ``name_{indices}`` as written."""
        return tuple(sp.expand(i - o) for i, o in zip(indices, self.origins[name]))


def build_index_model(equations, shapes=None, ranges=None, index_base: int | None = None,
                      name: str = "model") -> IndexModel:
    r"""Read index-level equations (the last defines the scalar loss) into an :class:`IndexModel`.

    ``shapes``: ``{'X': 'C x M x N'}`` or ``['X: C x M x N']`` (entries per axis, counted from the index base);
    ``ranges``: ``['i: 1..m']`` (a letter's first and last value); ``index_base``: 0 or 1 (default: as the
    sums' lower bounds are written, 1 on a tie)."""
    eqs = [read_index_equation(e) for e in as_list(equations)]
    if not eqs:
        raise ModelError("give the model's equations; the last defines the loss (L = \\sum_{i=1}^{m} h_i)")
    if eqs[-1].letters:
        raise ModelError(f"the last equation defines the scalar loss (L = \\sum_{{i=1}}^{{m}} h_i), not an entry: "
                         f"{eqs[-1].source!r}")
    declared_ranges, declared_shapes = read_ranges(ranges), read_index_shapes(shapes)
    defined = [e.name for e in eqs]
    repeated = sorted({n for n in defined if defined.count(n) > 1})
    if repeated:
        raise ModelError(f"{tensor_latex(repeated[0])} is defined by more than one equation")
    sizes = size_names(eqs, declared_ranges, declared_shapes)
    check_letters(eqs, sizes)
    check_declared(eqs, declared_ranges)
    base = infer_base(eqs, declared_ranges) if index_base is None else index_base
    if base not in (0, 1):
        raise ModelError(f"the index base is 0 or 1, not {base}")
    builder = Builder(eqs, base, sizes)
    abstract = abstract_loss(eqs[-1])
    r = resolve(eqs[:-1] if abstract else eqs, declared_ranges, declared_shapes, base, set(defined))
    return builder.build(r, abstract, name)


def as_list(x):
    return [x] if isinstance(x, str) else list(x or [])


def size_names(eqs, ranges: dict, shapes: dict) -> set:
    """The names that are sizes: in bounds, declared ranges and shapes, and every capital in an index."""
    names = {s.name for lo, hi in ranges.values() for s in (lo + hi).free_symbols}
    names |= {s.name for dims in shapes.values() for d in dims for s in sp.sympify(d).free_symbols}
    for eq in eqs:
        names |= {s.name for _, lo, hi in eq.windows for s in (lo + hi).free_symbols}
        for e in sp.preorder_traversal(eq.rhs):
            if isinstance(e, sp.Sum):
                names |= {s.name for v, lo, hi in e.limits if v.name not in eq.implicit
                          for s in (lo + hi).free_symbols}
            if isinstance(e, sp.Indexed):
                names |= {s.name for i in e.indices for s in i.free_symbols if s.name[0].isupper()}
    return names


def check_letters(eqs, sizes: set) -> None:
    """Every letter in an index is one of the equation's letters or a size; a summed letter is not free too,
    nor summed twice; a read uses a letter in one axis only."""
    for eq in eqs:
        check_nesting(eq)
        check_reads(eq)
        bound = {lim[0] for e in sp.preorder_traversal(eq.rhs) if isinstance(e, sp.Sum) for lim in e.limits}
        bound |= {v for e in sp.preorder_traversal(eq.rhs) if isinstance(e, window_max) for v in e.args[1:]}
        clash = bound & set(eq.letters)
        if clash:
            raise ModelError(f"{sorted(clash, key=str)[0]} is both an index of the left side and summed over in "
                             f"{eq.source!r}")
        known = bound | set(eq.letters)
        for e in sp.preorder_traversal(eq.rhs):
            if isinstance(e, sp.Indexed):
                for s in sorted(set().union(*(i.free_symbols for i in e.indices)), key=str):
                    if s not in known and s.name not in sizes:
                        letters = ", ".join(map(str, eq.letters)) or "none"
                        raise ModelError(f"unknown index {s} in {e} of {eq.source!r}: it is neither summed over nor "
                                         f"an index of the left side ({letters}); a size is written in capitals or "
                                         "in a bound")


def check_nesting(eq: IndexEquation, expr=None, outer=()) -> None:
    r"""A letter is summed (or maximised) over once: ``\sum_{i}\sum_{i} x_i`` is refused, naming the letter."""
    expr = eq.rhs if expr is None else expr
    here = ()
    if isinstance(expr, sp.Sum):
        here = tuple(lim[0] for lim in expr.limits)
    elif isinstance(expr, window_max):
        here = tuple(expr.args[1:])
    seen = list(outer) + list(here)
    twice = sorted({v for v in seen if seen.count(v) > 1}, key=str)
    if twice:
        raise ModelError(f"{twice[0]} is summed over twice in {eq.source!r}: give each sum a letter of its own "
                         f"(\\sum_{{i}} \\sum_{{j}} ...)")
    for a in expr.args:
        check_nesting(eq, a, tuple(seen))


def check_reads(eq: IndexEquation) -> None:
    """A letter indexes one axis of an entry: ``V_{j,j}`` (a diagonal) is refused, naming the letter and the read."""
    indices = set(eq.letters) | set(bound_letters(eq.rhs))
    for e in sp.preorder_traversal(eq.rhs):
        if isinstance(e, sp.Indexed):
            letters = [s for i in e.indices for s in i.free_symbols if s in indices]
            twice = sorted({s for s in letters if letters.count(s) > 1}, key=str)
            if twice:
                entry = f"{tensor_latex(e.base.label.name)}_{{{','.join(map(str, e.indices))}}}"
                raise ModelError(f"the index {twice[0]} is used twice in one read, {entry}, in {eq.source!r}: a "
                                 "letter indexes one axis of an entry (a diagonal read is not supported)")


def check_declared(eqs, declared_ranges: dict) -> None:
    """A declared range is of a letter the model uses (on a left side, summed or maximised over)."""
    used = {v.name for eq in eqs for v in eq.letters}
    used |= {v.name for eq in eqs for v in bound_letters(eq.rhs)}
    for letter in declared_ranges:
        if letter not in used:
            raise ModelError(f"--range gives a range for {letter}, but the model has no index {letter}: its "
                             f"indices are {', '.join(sorted(used)) or 'none'}")


def abstract_loss(eq: IndexEquation):
    r"""The output an abstract loss ``L = \ell(Y)`` is taken of (its name), or None."""
    rhs = eq.rhs
    if isinstance(rhs, sp.Function) and type(rhs).__name__ in LOSS_NAMES and len(rhs.args) == 1:
        arg = rhs.args[0]
        return arg.base.label.name if isinstance(arg, sp.Indexed) else getattr(arg, "name", None)
    return None


class Builder:
    """Turns the equations, their ranges resolved, into operations over engine tensors."""

    def __init__(self, eqs, base: int, sizes: set):
        self.eqs, self.base, self.size_names = eqs, base, sizes
        self.ops, self.tensors, self.origins, self.notes, self.activations = [], {}, {}, [], {}
        self.hidden_names: set = set()

    def build(self, r: Ranges, abstract: str | None, name: str) -> IndexModel:
        self.r = r
        for name_, axes in r.axes.items():
            self.tensor(name_, axes)
        for k, eq in enumerate(self.eqs[:-1] if abstract else self.eqs):
            self.equation(k, eq)
        constants = ()
        upstream = self.upstream_name(abstract)
        if abstract is not None:
            constants = (self.abstract(abstract),)
        defined = {e.name for e in self.eqs}
        read = [n for n in self.tensors if n not in defined | self.hidden_names | {"delta"} or
                (n == "delta" and abstract is None)]
        read.sort(key=lambda n: first_written(self.eqs, n))
        arguments = tuple(self.tensors[n] for n in read) + constants
        loss = self.tensors[self.eqs[-1].name] if not abstract else self.loss_tensor
        program = IndexProgram(name, tuple(self.ops), arguments, loss, constants=constants, given=constants)
        sizes = sorted({s for t in self.tensors.values() for d in t.dims for s in sp.sympify(d).free_symbols}
                       | {s for op in self.ops for s in op_sizes(op)}, key=str)
        ranges = {(k, v): span for (k, v), span in r.letters.items()}
        return IndexModel(program, dict(self.tensors), dict(self.origins), ranges, self.base, tuple(sizes),
                          dict(self.activations), upstream, tuple(self.eqs), tuple(self.notes))

    def tensor(self, name: str, axes) -> Tensor:
        dims = tuple(as_size(sp.expand(hi - lo + 1)) for lo, hi in axes)
        self.tensors[name] = Tensor(identifier(name), dims, tensor_latex(name))
        self.origins[name] = tuple(lo for lo, _ in axes)
        return self.tensors[name]

    def variables(self, k: int) -> dict:
        """Letter of equation k -> (engine variable, first value, count)."""
        out = {}
        for (kk, v), (lo, hi) in self.r.letters.items():
            if kk == k:
                out[v] = (index_symbols(v.name)[0], lo, as_size(sp.expand(hi - lo + 1)))
        return out

    def access(self, k: int, name: str, indices):
        """The engine access of ``name_{indices}`` as written in equation k."""
        if name not in self.tensors:
            self.tensor(name, [])
        shift = {v: e + lo for v, (e, lo, _) in self.variables(k).items()}
        engine = [sp.expand(as_size_keep(i.subs(shift, simultaneous=True), shift) - o)
                  for i, o in zip(indices, self.origins[name])]
        return self.tensors[name][tuple(engine)] if engine else self.tensors[name][()]

    def equation(self, k: int, eq: IndexEquation) -> None:
        out = self.tensors[eq.name]
        variables = self.variables(k)
        index = tuple(variables[v][0] for v in eq.letters)
        rhs = eq.rhs
        fname = activation_of(type(rhs).__name__) if isinstance(rhs, sp.Function) else None
        if fname is not None and len(rhs.args) == 1:
            self.pointwise(k, eq, out, index, fname, rhs.args[0])
        elif isinstance(rhs, window_max):
            self.window(k, eq, out, index, rhs)
        else:
            self.ops.append(Contract(out, index, tuple(self.terms(k, rhs, eq))))

    def pointwise(self, k, eq, out: Tensor, index, fname: str, arg) -> None:
        """``h = f(arg)``: arg an entry at the left side's index, or else a value named z (z_h if z is taken)."""
        if not eq.letters:
            raise ModelError(f"{eq.source}: a function of a value with no index; in an index-level model (one with "
                             f"a sum over written bounds) a function applies to entries, as in {eq.name}_{{i}} = "
                             f"\\operatorname{{{fname}}}(z_{{i}}): write the tensors with their indices, or leave the "
                             "bounds off the sums to read the model as matrices")
        if isinstance(arg, sp.Indexed) and tuple(arg.indices) == eq.letters and arg.base.label.name in self.tensors:
            self.activations[eq.name] = (fname, arg.base.label.name, eq.letters)
            self.ops.append(Pointwise(out, self.tensors[arg.base.label.name], fname, index))
            return
        hidden = "z" if "z" not in self.tensors else f"z_{eq.name}"
        z = self.tensor(hidden, list(zip(self.origins[eq.name], [
            o + d - 1 for o, d in zip(self.origins[eq.name], out.dims)])))
        self.hidden_names.add(hidden)
        self.notes.append(f"the argument of the function in {eq.name} is named {tensor_latex(hidden)}")
        self.activations[eq.name] = (fname, hidden, eq.letters)
        self.ops.append(Contract(z, index, tuple(self.terms(k, arg, eq))))
        self.ops.append(Pointwise(out, z, fname, index))

    def window(self, k, eq, out: Tensor, index, rhs) -> None:
        read = rhs.args[0]
        if not isinstance(read, sp.Indexed):
            raise ModelError(f"\\max over a window takes one entry (\\max_{{p,q}} X_{{c,2i+p,2j+q}}): {eq.source!r}")
        variables = self.variables(k)
        window = tuple((variables[v][0], variables[v][2]) for v in rhs.args[1:])
        mask = Tensor(f"mask_{out.name}", out.dims + tuple(n for _, n in window),
                      "M" if "M" not in self.tensors else "")  # a claim reads the arg-max mask as M
        self.ops.append(WindowMax(out, index, window, self.access(k, read.base.label.name, read.indices), mask))

    def terms(self, k: int, expr, eq: IndexEquation) -> list[Term]:
        """``expr`` as a sum of terms ``coeff * prod(entries)`` summed over letters (engine variables)."""
        variables = self.variables(k)
        out = []
        for coeff, factors, sums in expand_terms(expr, eq, self.size_names):
            accesses = tuple(self.access(k, n, i) for n, i in factors)
            sums_ = tuple((variables[v][0], variables[v][2]) for v in sums)
            out.append(Term(accesses, as_size(coeff), sums_))
        return out

    def upstream_name(self, abstract):
        if abstract is not None:
            return "delta"
        loss = self.eqs[-1]
        reads = [n for n in (a.base.label.name for a in sp.preorder_traversal(loss.rhs) if isinstance(a, sp.Indexed))
                 if n in {e.name for e in self.eqs}]
        return reads[0] if reads else ""

    def abstract(self, of: str) -> Tensor:
        r"""``L = \ell(Y)``: the loss ``\sum \delta Y`` with the gradient ``\delta`` given (a constant)."""
        if of not in self.tensors:
            raise ModelError(f"the loss \\ell is taken of {of}, which no equation defines")
        y = self.tensors[of]
        delta = self.tensor("delta", list(zip(self.origins[of], [o + d - 1 for o, d in zip(self.origins[of], y.dims)])))
        # a document prints Kronecker deltas: the given gradient is written \bar{Y} there, never \delta
        self.tensors["delta"] = delta = replace(delta, latex=rf"\bar{{{tensor_latex(of)}}}")
        letters = next(e.letters for e in self.eqs if e.name == of)
        variables = index_symbols(" ".join(v.name for v in letters)) if y.dims else ()
        self.loss_tensor = Tensor(identifier(self.eqs[-1].name), (), tensor_latex(self.eqs[-1].name))
        term = Term((delta[tuple(variables)], y[tuple(variables)]), sums=tuple(zip(variables, y.dims)))
        self.ops.append(Contract(self.loss_tensor, (), (term,)))
        self.notes.append(f"\\ell is abstract: its gradient \\delta = \\partial L/\\partial {tensor_latex(of)} "
                          "is given")
        return delta


def first_written(eqs, name: str) -> tuple:
    """Where ``name`` is first written in the equations (the order of the arguments)."""
    return next(((k, eq.source.find(name)) for k, eq in enumerate(eqs) if name in eq.source), (len(eqs), 0))


def as_size_keep(e, shift: dict):
    """An index expression with its sizes as size symbols (the engine variables kept)."""
    keep = {s for v in shift.values() for s in v.free_symbols if s.is_nonnegative and not s.is_positive}
    return e.subs({s: as_size(s) for s in e.free_symbols if s not in keep}, simultaneous=True)


def op_sizes(op) -> set:
    """The size symbols an operation's indices and sums use (strides, paddings)."""
    out = set()
    terms = op.terms if isinstance(op, Contract) else ()
    for t in terms:
        for f in t.factors:
            for i in f.index:
                out |= {s for s in i.free_symbols if s.is_positive}
        out |= {s for _, n in t.sums for s in sp.sympify(n).free_symbols}
        out |= {s for s in sp.sympify(t.coeff).free_symbols}
    if isinstance(op, WindowMax):
        out |= {s for i in op.read.index for s in i.free_symbols if s.is_positive}
    return out


def expand_terms(expr, eq: IndexEquation, sizes: set) -> list:
    """``[(coeff, [(name, indices)], [summed letters])]``: ``expr`` expanded into products of entries."""
    if isinstance(expr, sp.Add):
        return [t for a in expr.args for t in expand_terms(a, eq, sizes)]
    if isinstance(expr, sp.Mul):
        out = [(sp.S.One, [], [])]
        for a in expr.args:
            out = [(c1 * c2, f1 + f2, s1 + s2) for c1, f1, s1 in out for c2, f2, s2 in expand_terms(a, eq, sizes)]
        return out
    if isinstance(expr, Sum):
        letters = [lim[0] for lim in reversed(expr.limits)]
        return [(c, f, letters + s) for c, f, s in expand_terms(expr.function, eq, sizes)]
    if isinstance(expr, sp.Indexed):
        return [(sp.S.One, [(expr.base.label.name, tuple(expr.indices))], [])]
    if is_scalar_name(expr):
        if expr.name in sizes:
            return [(as_size(sp.Symbol(expr.name)), [], [])]
        return [(sp.S.One, [(expr.name, ())], [])]
    if expr.is_number:
        return [(expr, [], [])]
    if isinstance(expr, sp.Pow) and expr.exp.is_number and is_size_power(expr.base, sizes):
        return [(as_size(sp.Symbol(expr.base.name)) ** expr.exp, [], [])]
    raise ModelError(f"cannot read {expr} in {eq.source!r}: {SHAPES_OF_TERMS}")


def is_size_power(base, sizes: set) -> bool:
    return is_scalar_name(base) and base.name in sizes


def looks_index_level(equations) -> bool:
    r"""Are these equations written entry by entry (``h_i = ...``, ``Y_{o,i,j} = ...``, a sum over a letter
    other than the time step t)? Then they are read by :func:`build_index_model`, not as matrices."""
    for text in as_list(equations):
        try:
            eq = read_index_equation(text)
        except Exception:  # noqa: BLE001 -- any equation the index-level reader cannot read is not index-level
            continue
        letters = {v.name for v in eq.letters}
        summed = {lim[0].name for e in sp.preorder_traversal(eq.rhs) if isinstance(e, sp.Sum) for lim in e.limits}
        if letters - {"t"} or summed - {"t"} or eq.rhs.has(window_max):
            return True
    return False
