"""The index-level parts of the verification (convolution, pooling, CNN): the sizes and options of a
case, arguments (exact rationals for the symbolic check), and the symbolic check itself."""
from __future__ import annotations

import numpy as np
import sympy as sp

from symderive.index import evaluate as ie
from symderive.index.program import IndexProgram, Pointwise, SoftmaxCrossEntropy, WindowMax


def case_sizes(case: dict, derived) -> dict:
    """The case's sizes and options with the ``derived`` sizes (output sizes) added."""
    sizes = dict(case)
    for ds in derived:
        sizes[ds.symbol] = int(ds.expr.subs(sizes))
    return sizes


def case_options(case: dict, options) -> dict:
    """The exported functions' keyword arguments of the case: ``stride=2`` or ``stride=(2, 1)``."""
    return {o.keyword: tuple(case[s] for s in o.symbols) if len(o.symbols) > 1 else case[o.symbols[0]]
            for o in options}


def case_label(case: dict, options) -> str:
    values = case_options(case, options)
    return ", ".join(f"{o.keyword}={values[o.keyword]}" for o in options)


def index_arguments(program: IndexProgram, sizes: dict, seed: int, exact: bool = False, positive: bool = False) -> dict:
    """Standard normal arrays (or distinct small rationals with ``exact``, all positive with
    ``positive``); a target (a constant of the program) is one-hot."""
    rng = np.random.default_rng(seed)
    env = ie.Env({}, sizes)
    out = {}
    for t in program.arguments:
        shape = env.shape(t)
        if t in program.constants:
            a = np.zeros(shape)
            a[tuple(rng.integers(0, n) for n in shape)] = 1
            out[t.name] = np.vectorize(sp.Integer, otypes=[object])(a.astype(int)) if exact else a
        elif exact:
            values = rng.choice(np.arange(1, 10**6), size=int(np.prod(shape)), replace=False)  # distinct: no ties
            signs = np.ones(values.size, dtype=int) if positive else rng.choice([-1, 1], size=values.size)
            out[t.name] = np.array([sp.Rational(int(s * v), 999983) for s, v in zip(signs, values)],
                                   dtype=object).reshape(shape)
        else:
            out[t.name] = rng.standard_normal(shape)
    return out


def interpreted_gradients(program: IndexProgram, bw, arrays: dict, sizes: dict) -> dict:
    """The derived formulas evaluated by the naive interpreter, keyed by the differentiated argument."""
    env = ie.backward(bw, ie.forward(program, ie.Env(dict(arrays), sizes)))
    return {t.name: env[bw.of(t).adjoint.name] for t in program.differentiated}


def is_polynomial(program: IndexProgram) -> bool:
    return not any(isinstance(op, (Pointwise, SoftmaxCrossEntropy, WindowMax)) for op in program.ops)


def index_symbolic_check(program: IndexProgram, bw, sizes: dict, positive: bool = False) -> dict[str, bool]:
    """Brute force: ``sympy.diff`` of the loss of an explicit instantiation at ``sizes`` (max pooling
    as ``sympy.Max``, relu as ``Max(0, x)``) against the derived index formulas evaluated by the naive
    interpreter. Polynomial losses (convolutions) are compared as polynomials in symbols for every
    entry; the others at a point of distinct rationals (all positive with ``positive``; exact, except
    exp/log: 50 digits)."""
    shapes = {t.name: ie.Env({}, sizes).shape(t) for t in program.arguments}
    symbols = {t.name: np.array([sp.Symbol(f"{t.name}[{','.join(map(str, k))}]") for k in np.ndindex(shapes[t.name])],
                                dtype=object).reshape(shapes[t.name]) for t in program.differentiated}
    point = index_arguments(program, sizes, seed=3, exact=True, positive=positive)
    polynomial = is_polynomial(program)
    derived_env = ie.Env(dict({**point, **symbols} if polynomial else point), sizes, symbolic=True)
    ie.backward(bw, ie.forward(program, derived_env))
    brute = (ie.forward(program, ie.Env({**point, **symbols}, sizes, symbolic=True))[program.loss.name]
             if polynomial else None)
    result = {}
    for t in program.differentiated:
        derived = derived_env[bw.of(t).adjoint.name]
        entries = zip(np.ndindex(shapes[t.name]), symbols[t.name].flat, derived.flat)
        if polynomial:
            result[t.name] = all(sp.expand(sp.diff(brute, s) - want) == 0 for _, s, want in entries)
        else:
            result[t.name] = all(entry_matches(program, point, sizes, t.name, position, s, want)
                                 for position, s, want in entries)
    return result


def entry_matches(program: IndexProgram, point: dict, sizes: dict, name: str, position, s, want) -> bool:
    """Only this entry symbolic: the loss as a function of one variable, differentiated, at the point."""
    one = point[name].copy()
    one[position] = s
    loss = ie.forward(program, ie.Env({**point, name: one}, sizes, symbolic=True), brute_max=True)[program.loss.name]
    diff = sp.sympify(sp.diff(loss, s).subs(s, point[name][position]) - want)
    return bool(diff == 0 or abs(sp.N(diff, 50)) < sp.Float("1e-40"))
