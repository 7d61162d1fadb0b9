"""A naive reference interpreter of index-level programs and their derived formulas: explicit loops
over every index value, one entry at a time, exactly as the formulas read (zero outside the ranges).

It shares nothing with the exported module's strided-view kernels, so agreement between the two is a
check of both. The arrays may hold floats or SymPy expressions (``object`` arrays): the symbolic
check runs the same code on symbols.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from symderive.index.derive import (
    Access,
    AdjointOf,
    Contract,
    Definition,
    IndexBackward,
    IndexProgram,
    Pointwise,
    PointwiseShare,
    SoftmaxCrossEntropy,
    Term,
    WindowMax,
)
from symderive.ops.registry import ACTIVATIONS


class Env(dict):
    """Arrays by tensor name, plus ``sizes`` (size symbol -> int) and the scalar ``backend``."""

    def __init__(self, arrays, sizes, symbolic=False):
        super().__init__(arrays)
        self.sizes = sizes
        self.symbolic = symbolic
        self.compiled: dict = {}
        self.size_cache: dict = {}

    def size(self, expr) -> int:
        if expr not in self.size_cache:
            self.size_cache[expr] = int(sp.sympify(expr).subs(self.sizes))
        return self.size_cache[expr]

    def shape(self, tensor) -> tuple:
        return tuple(self.size(d) for d in tensor.dims)

    def zeros(self, tensor):
        shape = self.shape(tensor)
        if self.symbolic:
            return np.full(shape, sp.S.Zero, dtype=object)
        return np.zeros(shape)


def index_function(env: Env, index: tuple, variables: tuple):
    """The index expressions, with the sizes bound, as a function of the variables."""
    key = (index, variables)
    if key not in env.compiled:
        env.compiled[key] = sp.lambdify(variables, [sp.sympify(i).subs(env.sizes) for i in index], "math")
    return env.compiled[key]


def read(env: Env, access: Access, variables: tuple, values: tuple):
    """``tensor[index]`` at the given variable values; 0 outside the tensor's range."""
    array = env[access.tensor.name]
    position = tuple(int(i) for i in index_function(env, access.index, variables)(*values)) if access.index else ()
    if any(k < 0 or k >= n for k, n in zip(position, array.shape)):
        return 0
    return array[position]


def term_value(env: Env, term: Term, free: tuple, free_values: tuple):
    """``coeff * sum over term.sums of prod(factors)`` at one value of the free variables."""
    if term.deltas:
        raise ValueError("a term with Kronecker deltas is evaluated after elimination")
    sum_vars = tuple(v for v, _ in term.sums)
    variables = free + sum_vars
    coeff = sp.sympify(term.coeff).subs(env.sizes)
    coeff = coeff if env.symbolic else float(coeff)
    total = 0
    ranges = [range(env.size(n)) for _, n in term.sums]
    for values in itertools.product(*ranges):
        point = free_values + values
        product = 1
        for f in term.factors:
            product = product * read(env, f, variables, point)
            if not env.symbolic and product == 0:
                break
        total = total + product
    return coeff * total


def fill(env: Env, tensor, value_at):
    out = env.zeros(tensor)
    for position in np.ndindex(out.shape):
        out[position] = value_at(position)
    return out


def window_mask(env: Env, op: WindowMax):
    """The arg-max one-hot of each window: the first maximum in row-major order wins ties."""
    mask = env.zeros(op.mask)
    window = tuple(v for v, _ in op.window)
    variables = tuple(op.index) + window
    for position in np.ndindex(env.shape(op.out)):
        best, best_at = None, None
        for offsets in itertools.product(*(range(env.size(n)) for _, n in op.window)):
            value = read(env, op.read, variables, position + offsets)
            if best is None or value > best:
                best, best_at = value, offsets
        mask[position + best_at] = 1
    return mask


def forward(program: IndexProgram, env: Env, brute_max: bool = False) -> Env:
    """Every value of the forward pass. ``brute_max``: max pooling as ``sympy.Max`` of the window
    (for differentiating the explicit instantiation) instead of mask times input."""
    for op in program.ops:
        if isinstance(op, WindowMax):
            window = tuple(v for v, _ in op.window)
            variables = tuple(op.index) + window
            if brute_max:
                def value_at(position, op=op, variables=variables):
                    reads = [read(env, op.read, variables, position + offs)
                             for offs in itertools.product(*(range(env.size(n)) for _, n in op.window))]
                    return sp.Max(*reads)
                env[op.out.name] = fill(env, op.out, value_at)
                continue
            env[op.mask.name] = window_mask(env, op)
            op = op.as_contract()
        if isinstance(op, Contract):
            env[op.out.name] = contract_value(env, op)
        elif isinstance(op, Pointwise):
            env[op.out.name] = pointwise_value(env, op)
        elif isinstance(op, SoftmaxCrossEntropy):
            z, y = env[op.logits.name], env[op.target.name]
            if env.symbolic:
                e = [sp.exp(v) for v in z]
                env[op.probs.name] = np.array([v / sum(e) for v in e], dtype=object)
                env[op.out.name] = sp.log(sum(e)) - sum(a * b for a, b in zip(y, z))
            else:
                e = np.exp(z - z.max())
                env[op.probs.name] = e / e.sum()
                env[op.out.name] = float(np.log(e.sum()) + z.max() - y @ z)
    return env


def contract_value(env: Env, op: Contract):
    value = fill(env, op.out, lambda pos: sum(term_value(env, t, op.index, pos) for t in op.terms))
    return value[()] if not op.index else value


def pointwise_value(env: Env, op: Pointwise):
    f = ACTIVATIONS[op.fname].scalar
    arg = env[op.arg.name]
    if env.symbolic:
        brute = {"relu": lambda x: sp.Max(0, x)}.get(op.fname, f)
        return np.vectorize(brute, otypes=[object])(arg)
    return np.vectorize(lambda x: float(ACTIVATIONS[op.fname].reference(x)))(arg)


def backward(bw: IndexBackward, env: Env) -> Env:
    """Every adjoint from its derived formula (the shares after elimination)."""
    for a in bw.adjoints:
        env[a.adjoint.name] = adjoint_value(env, a)
    return env


def adjoint_value(env: Env, a: AdjointOf):
    total = env.zeros(a.tensor)
    for share in a.shares:
        if isinstance(share, PointwiseShare):
            total = total + pointwise_share_value(env, a, share)
            continue
        for d in share.definitions:
            define(env, d)
        for term in share.result:
            total = total + fill(env, a.tensor, lambda pos, term=term: term_value(env, term, a.index, pos))
    return total


def pointwise_share_value(env: Env, a: AdjointOf, share: PointwiseShare):
    expr = share.expr
    bases = sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key)
    fn = sp.lambdify(bases, expr, modules=[{name: f.reference for name, f in ACTIVATIONS.items()}, "math"])

    def value_at(position):
        values = [env[b.base.name][position] for b in bases]
        if env.symbolic:
            return expr.subs(dict(zip(bases, values)))
        return fn(*values)

    return fill(env, a.tensor, value_at)


def define(env: Env, d: Definition):
    """A dilation (``out[.., s u, ..] = of[.., u, ..]``, zeros between) or a product of factors."""
    if d.kind == "product":
        variables = tuple(d.index)
        env[d.out.name] = fill(env, d.out, lambda pos: np.prod([read(env, f, variables, pos) for f in d.factors]))
        return
    for inner in d.factors:
        define(env, inner)
    source = env[d.of.name]
    out = env.zeros(d.out)
    strides = {axis: env.size(s) for axis, s in d.strides}
    for position in np.ndindex(source.shape):
        out[tuple(k * strides.get(axis, 1) for axis, k in enumerate(position))] = source[position]
    env[d.out.name] = out
