"""Reverse mode over an index-level program (see :mod:`symderive.index.program`).

For ``Y[f] = sum of terms``, the adjoint of a tensor A read in a term as ``A[e_1, ..., e_r]`` is, by
the chain rule,

    dA[a] = sum_f dY[f] dY[f]/dA[a] = sum_f sum_bound dY[f] (the other factors) prod_k delta(a_k, e_k),

one Kronecker delta per axis of A. The deltas are then eliminated (``eliminate``):

* ``delta(a, e)`` where e holds a summed variable v with coefficient +-1: substitute the solution for
  v and drop the sum over v. Exact when v's range is a's range and e = v, or when some factor reads v
  bare along an axis of v's length (a value of v outside its range then reads 0 there, which is what
  dropping the range check needs);
* a summed variable v with a coefficient s other than +-1 (a stride) is absorbed into a *dilated*
  tensor: the factors that read v (each bare, along one axis) are multiplied into one tensor R, and
  ``~R[.., u, ..] = R[.., u/s, ..]`` if s divides u, else 0 (s - 1 zeros between entries); ``s v``
  becomes u, a variable with coefficient 1, eliminated as above.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from symderive.errors import ModelError
from symderive.index.program import (
    Access,
    Contract,
    IndexProgram,
    Pointwise,
    SoftmaxCrossEntropy,
    Tensor,
    Term,
    WindowMax,
    index_symbols,
    tensors_of,
    unique,
)
from symderive.ops.nodes import ACTIVATIONS


def adjoint_tensor(t: Tensor) -> Tensor:
    return Tensor(f"d_{t.name}", t.dims, rf"\bar{{{t.tex}}}")


@dataclass(frozen=True)
class Share:
    """One share of an adjoint: the chain-rule term (with deltas) from the use ``source``, the
    eliminated terms and any tensors the elimination introduced (dilations, products)."""

    source: object
    chain: tuple
    result: tuple
    definitions: tuple = ()


@dataclass(frozen=True)
class PointwiseShare:
    """``dA[index] = dOut[index] * derivative`` (a SymPy scalar of Indexed entries)."""

    source: object
    expr: sp.Expr
    rule: str


@dataclass(frozen=True)
class Definition:
    """A tensor the elimination introduced: ``kind`` "product" (``out = prod(factors)``) or "dilate"
    (``out[.., u, ..] = of[.., u/s, ..]`` if s | u else 0, for each ``(axis, s)`` in ``strides``)."""

    out: Tensor
    kind: str
    factors: tuple = ()
    of: Tensor | None = None
    strides: tuple = ()
    index: tuple = ()


@dataclass(frozen=True)
class AdjointOf:
    """``d_tensor[index] = sum of the shares``."""

    tensor: Tensor
    adjoint: Tensor
    index: tuple
    shares: tuple


@dataclass(frozen=True)
class IndexBackward:
    program: IndexProgram
    adjoints: tuple  # in the order they are computed

    def of(self, tensor: Tensor) -> AdjointOf:
        return next(a for a in self.adjoints if a.tensor == tensor)


def gradient_index(t: Tensor, reads: list, taken: set) -> tuple:
    """Primed names for the adjoint's free indices (renamed back after elimination): the name a read
    uses along an axis where it reads a bare variable (``W[o,c,p,q] -> o', c', p', q'``), else m, n, ...
    that no variable or size in ``taken`` is named (an index never reads as a size: x_m with a size m)."""
    names = {v.name for v in taken}
    spare = iter(n for n in "mnrsuvabefgh" if n not in names)
    out = []
    for axis in range(len(t.dims)):
        bare = [a.index[axis] for a in reads if a.index[axis].is_Symbol]
        name = bare[0].name if bare else next(spare)
        out.append(f"{name}'")
    return index_symbols(" ".join(out)) if out else ()


def derive(program: IndexProgram) -> IndexBackward:
    """The adjoint of every tensor, from the loss back to the arguments."""
    adjoints: dict[str, Tensor] = {}  # name -> the tensor holding its adjoint (an alias such as G, or d_name)
    order = []
    ops = list(program.ops)
    for op in reversed(ops):
        if op.out == program.loss:
            continue
        users = [u for u in ops if op.out in u.reads]
        order.append(collect(op.out, users, adjoints, program))
        adjoints[op.out.name] = alias_of(order[-1]) or order[-1].adjoint
    for arg in program.differentiated:
        users = [u for u in ops if arg in u.reads]
        order.append(collect(arg, users, adjoints, program))
        adjoints[arg.name] = order[-1].adjoint
    return IndexBackward(program, tuple(order))


def alias_of(a: AdjointOf) -> Tensor | None:
    """The tensor an adjoint equals entry for entry (``dL/dY = G`` for ``L = sum G * Y``), if any:
    later formulas then read that tensor directly."""
    if len(a.shares) != 1 or not isinstance(a.shares[0], Share) or len(a.shares[0].result) != 1:
        return None
    term = a.shares[0].result[0]
    if term.sums or term.deltas or term.coeff != 1 or len(term.factors) != 1 or term.factors[0].index != a.index:
        return None
    return term.factors[0].tensor


def collect(tensor: Tensor, users, adjoints, program) -> AdjointOf:
    shares = []
    index = None
    sizes = {s for t in tensors_of(program) for d in t.dims for s in sp.sympify(d).free_symbols}
    for op in users:
        d_out = None if op.out == program.loss else adjoints[op.out.name]
        if isinstance(op, (Contract, WindowMax)):
            contract = op.as_contract() if isinstance(op, WindowMax) else op
            taken = {v for term in contract.terms for v in term_variables(term)} | set(contract.index) | sizes
            reads = [f for term in contract.terms for f in term.factors if f.tensor == tensor]
            index = index or gradient_index(tensor, reads, taken)
            shares.extend(contract_shares(contract, d_out, tensor, index, op))
        elif isinstance(op, Pointwise):
            index = index or op.index
            shares.append(pointwise_share(op, d_out))
        elif isinstance(op, SoftmaxCrossEntropy):
            index = index or (op.index,)
            p, y, k = op.probs, op.target, op.index
            shares.append(PointwiseShare(op, entry(p, (k,)) - entry(y, (k,)), r"\sum_k y_k = 1"))
    if index is None:  # read by no operation: its gradient is 0 (no share)
        index = gradient_index(tensor, [], sizes)
    shares, index = tidy(tuple(shares), index)
    return AdjointOf(tensor, adjoint_tensor(tensor), index, shares)


def entry(t: Tensor, index) -> sp.Indexed:
    return sp.IndexedBase(t.name)[tuple(index)]


def pointwise_share(op: Pointwise, d_out: Tensor) -> PointwiseShare:
    """``dZ = dY * f'(Z)``, with f' written through Y = f(Z) where the registry does (sigmoid, tanh)."""
    z = sp.Symbol("z")
    f = ACTIVATIONS[op.fname].scalar
    derivative = f(z).diff(z)
    y_entry, z_entry = entry(op.out, op.index), entry(op.arg, op.index)
    derivative = derivative.subs(f(z), y_entry).subs(z, z_entry)
    return PointwiseShare(op, entry(d_out, op.index) * derivative, ACTIVATIONS[op.fname].rule)


def term_variables(term: Term) -> set:
    out = set(term.summed)
    for f in term.factors:
        out |= f.variables
    return out


def contract_shares(op: Contract, d_out: Tensor | None, tensor: Tensor, index, source) -> list[Share]:
    """The chain rule through ``op`` for every read of ``tensor``, then the deltas eliminated."""
    out_sums = tuple(zip(op.index, op.out.dims))
    seed = (d_out[op.index],) if d_out is not None else ()
    shares = []
    for term in op.terms:
        for k, f in enumerate(term.factors):
            if f.tensor != tensor:
                continue
            others = term.factors[:k] + term.factors[k + 1:]
            chain = Term(seed + others, term.coeff, out_sums + term.sums, tuple(zip(index, f.index)))
            result, definitions = eliminate(chain)
            shares.append(Share(source, (chain,), (result,), tuple(definitions)))
    return shares


def coefficient(expr: sp.Expr, v: sp.Symbol) -> sp.Expr:
    return sp.expand(expr).coeff(v)


def eliminate(term: Term) -> tuple[Term, list[Definition]]:
    """Remove every Kronecker delta (see the module docstring); a ModelError if one cannot be.

    Each delta is solved for a variable read by the first factor that reads one (the upstream
    adjoint): that eliminates the output positions and keeps the short window sums (``K`` terms per
    entry, not every output position)."""
    definitions = []
    while term.deltas:
        picks = [pick_variable(term, e) for _, e in term.deltas]
        unit = next((k for k, v in enumerate(picks) if coefficient(term.deltas[k][1], v) in (1, -1)), None)
        if unit is not None:
            term = substitute(term, unit, picks[unit])
            continue
        strided = {v: coefficient(e, v) for (_, e), v in zip(term.deltas, picks)}
        term, definition, fresh = dilate(term, strided)
        definitions.append(definition)
        for u in fresh:  # solve each delta for the dilated position that replaced the strided one
            k = next(k for k, (_, e) in enumerate(term.deltas) if coefficient(e, u) != 0)
            term = substitute(term, k, u)
    return term, definitions


def pick_variable(term: Term, e: sp.Expr) -> sp.Symbol:
    candidates = [v for v, _ in term.sums if coefficient(e, v) != 0]
    if not candidates:
        raise ModelError(f"cannot eliminate a Kronecker delta on {e}: it holds no summed variable")
    for f in term.factors:
        hits = [v for v in candidates if v in f.variables]
        if hits:
            units = [v for v in hits if coefficient(e, v) in (1, -1)]
            return (units or hits)[0]
    return candidates[0]


def substitute(term: Term, k: int, v: sp.Symbol) -> Term:
    """Drop delta k and the sum over v, with v replaced by the solution of the delta."""
    a, e = term.deltas[k]
    if not substitution_exact(term, v, e, a):
        raise ModelError(f"cannot drop the sum over {v} in delta({a}, {e}): its range is not implied "
                         "and no factor reads it bare")
    c = coefficient(e, v)
    value = sp.expand((a - (e - c * v)) / c)
    rest = term.deltas[:k] + term.deltas[k + 1:]
    return replace(term, sums=tuple(s for s in term.sums if s[0] != v), deltas=rest).subs({v: value})


def substitution_exact(term: Term, v, e, a) -> bool:
    """Dropping the sum over v is exact: e = v over a's own range, or a factor reads v bare along an
    axis of v's length (so an out-of-range value of v reads 0)."""
    n = term.summed[v]
    if sp.expand(e - v) == 0 and a.is_Symbol:
        return True
    for f in term.factors:
        for i, dim in zip(f.index, f.tensor.dims):
            if sp.expand(i - v) == 0 and sp.expand(dim - n) == 0:
                return True
    return False


def dilate(term: Term, strided: dict) -> tuple[Term, Definition, list]:
    """Absorb the variables read with a stride (``strided``: variable -> stride) into one dilated
    tensor: the factors reading them are multiplied into one tensor R first if there are several."""
    readers = [f for f in term.factors if f.variables & set(strided)]
    others = [f for f in term.factors if not (f.variables & set(strided))]
    if any(not all(i.is_Symbol for i in f.index) for f in readers):
        raise ModelError("a strided variable must be read bare (an index variable alone) by the factors it appears in")
    product = None
    if len(readers) == 1:
        source = readers[0]
    else:
        variables = unique(i for f in readers for i in f.index)
        dims = {i: dim for f in readers for i, dim in zip(f.index, f.tensor.dims)}
        names = "".join(f.tensor.name.replace("d_", "") for f in readers)
        product_tensor = Tensor(f"R_{names}", tuple(dims[v] for v in variables), "R")
        product = Definition(product_tensor, "product", factors=tuple(readers), index=tuple(variables))
        source = product_tensor[tuple(variables)]
    new_index, new_dims, strides, new_sums, new_var = [], [], [], [], {}
    for axis, (i, dim) in enumerate(zip(source.index, source.tensor.dims)):
        if i in strided:
            s = strided[i]
            new_var[i] = u = index_symbols(f"u_{i.name}")[0]
            new_index.append(u)
            new_dims.append(s * (dim - 1) + 1)
            strides.append((axis, s))
            new_sums.append((u, s * (dim - 1) + 1))
        else:
            new_index.append(i)
            new_dims.append(dim)
    dilated = Tensor(f"{source.tensor.name}_dil", tuple(new_dims), rf"\tilde{{{source.tensor.tex}}}")
    definition = Definition(dilated, "dilate", of=source.tensor, strides=tuple(strides), index=tuple(source.index),
                            factors=(product,) if product else ())
    deltas = []
    for a, e in term.deltas:
        for v, s in strided.items():
            e = sp.expand(e - coefficient(e, v) * v + (coefficient(e, v) / s) * new_var[v])
        deltas.append((a, e))
    sums = tuple(x for x in term.sums if x[0] not in strided) + tuple(new_sums)
    new_term = Term((dilated[tuple(new_index)], *others), term.coeff, sums, tuple(deltas))
    return new_term, definition, list(new_var.values())


def tidy(shares: tuple, index: tuple) -> tuple[tuple, tuple]:
    """Rename the primed free indices back (``c' -> c``) where the result no longer uses the plain name."""
    used = set()
    for s in shares:
        for term in getattr(s, "result", ()):
            used |= set(term.summed) | {v for f in term.factors for v in f.variables if v not in index}
    mapping = {}
    for v in index:
        plain = index_symbols(v.name.rstrip("'"))[0]
        if plain not in used and plain not in mapping.values():
            mapping[v] = plain
    if not mapping:
        return shares, index
    out = []
    for s in shares:
        if isinstance(s, Share):
            out.append(replace(s, result=tuple(t.subs(mapping) for t in s.result),
                               definitions=tuple(rename_definition(d, mapping) for d in s.definitions)))
        else:
            out.append(s)
    return tuple(out), tuple(mapping.get(v, v) for v in index)


def rename_definition(d: Definition, mapping) -> Definition:
    return replace(d, index=tuple(i.subs(mapping) for i in d.index),
                   factors=tuple(f.subs(mapping) if isinstance(f, Access) else
                                 (rename_definition(f, mapping) if isinstance(f, Definition) else f)
                                 for f in d.factors))
