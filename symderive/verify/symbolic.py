"""The symbolic proof at a small size: exact, and independent of the matrix-level rules.

The model is instantiated with explicit matrices of scalar symbols. Every activation value
``f(arg)`` becomes an *atom*, a fresh symbol ``A_k`` recorded with ``f`` and ``arg`` (the same
symbol for the same ``f(arg)``), so the loss and every derived formula are rational functions of
the arguments' symbols and the atoms instead of deeply nested trees.

The brute-force derivative is the scalar chain rule on that unrolled graph (forward mode):

    dL/ds = ∂L/∂s + sum_k ∂L/∂A_k dA_k/ds,   dA_k/ds = f'(arg_k) (∂arg_k/∂s + sum_j ∂arg_k/∂A_j dA_j/ds)

with ``f'`` from ``sympy.diff`` of the scalar function. Reciprocals ``1/arg`` and the functions that
derivatives bring in (``step`` for relu, ``sigma`` for softplus) are atoms too, so every quantity is a
polynomial and all arithmetic is exact in SymPy's sparse polynomial ring. ``derived - brute force``
must be the zero polynomial in symbols and atoms: zero for every value of the atoms, so also for
their true values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

from symderive.matrix import evaluate as ev
from symderive.matrix.evaluate import FULL, SympyBackend, Truncation
from symderive.model.program import Program, arguments, key, numeric_shape
from symderive.ops.nodes import T
from symderive.ops.registry import ACTIVATIONS


@dataclass(frozen=True)
class AtomBackend(SympyBackend):
    """Explicit SymPy matrices whose activation values are atoms (``A_k = f(arg_k)``, memoised)."""

    atoms: dict = field(default_factory=dict)  # (fname, arg) -> symbol, in creation order

    def apply(self, fname, a):
        return a.applyfunc(lambda e: self.atom(fname, e))

    def power(self, a, p):
        # through atomize, as the brute force: 1/(a b) is recip(a) recip(b), not an atom recip(a b) of its own
        return a.applyfunc(lambda e: self.atomize(e ** p) if p < 0 else e ** p)

    def atom(self, fname, arg):
        return self.atoms.setdefault((fname, arg), sp.Symbol(f"_A{len(self.atoms)}", real=True))

    def atomize(self, expr):
        """``expr`` with every applied activation and every reciprocal replaced by its atom."""
        names = {a.scalar: name for name, a in ACTIVATIONS.items()}
        expr = expr.replace(lambda e: isinstance(e, sp.Function) and type(e) in names,
                            lambda e: self.atom(names[type(e)], e.args[0]))
        return expr.replace(lambda e: e.is_Pow and e.exp.is_negative,
                            lambda e: self.atom("recip", e.base) ** -e.exp)


def explicit_arguments(program: Program, sizes: dict) -> dict:
    """Every argument as an array of scalar symbols named after its entries (``W_hh_0_1``)."""
    out = {}
    for v in arguments(program):
        name, shape = key(v), numeric_shape(v, sizes)
        out[name] = np.array([sp.Symbol(f"{name}_" + "_".join(map(str, idx)), real=True)
                              for idx in np.ndindex(*shape)], dtype=object).reshape(shape)
    return out


def dummy_matrix(prefix: str, shape: tuple) -> sp.Matrix:
    """A matrix of fresh dummies of the given shape, entry (i, j) named ``{prefix}_{i}``."""
    return sp.Matrix(shape[0], shape[1], lambda i, j: sp.Dummy(f"{prefix}_{i}"))


def instantiate(program: Program, sizes: dict, truncation: Truncation):
    """(backend, env after the forward, loss, detached dummies -> their values)."""
    backend = AtomBackend()
    symbols = explicit_arguments(program, sizes)
    env = ev.bind(program, symbols, sizes, backend)
    ev.forward(program, env)
    if not program.recurrent or truncation is FULL:
        return backend, symbols, env, ev.loss(program, env), {}
    frozen, values = {}, {}
    for state in program.states:
        for s in range(1, sizes[T]):
            value = env[(state, s)]
            dummies = dummy_matrix(f"{state}{s}", value.shape)
            frozen[(state, s)] = dummies
            values.update(zip(dummies, value))
    detached = ev.Env(dict(env), sizes, backend)
    return backend, symbols, env, ev.detached_loss(program, detached, truncation, frozen), values


class ChainRule:
    """Exact scalar chain rule over the atoms of an unrolled loss, in a sparse polynomial ring.

    One sweep over the atoms in reverse creation order (a topological order) gives each atom's total
    adjoint ``dL/dA_k = ∂L/∂A_k + sum_j dL/dA_j f_j'(arg_j) ∂arg_j/∂A_k``; then
    ``dL/ds = ∂L/∂s + sum_k dL/dA_k f_k'(arg_k) ∂arg_k/∂s`` for every symbol s."""

    def __init__(self, backend: AtomBackend, loss, extra_gens):
        atoms = list(backend.atoms.items())
        slopes = [backend.atomize(slope(fname, arg, a)) for (fname, arg), a in atoms]  # may add atoms
        gens = set(extra_gens) | set(loss.free_symbols) | set(backend.atoms.values())
        gens |= set().union(*(arg.free_symbols for (_, arg) in backend.atoms))
        gens = sorted(gens, key=lambda s: s.name)
        self.R = ring(gens, QQ)[0]
        self.gen = dict(zip(gens, self.R.gens))
        self.args = [self.R.from_expr(arg) for (_, arg), _ in atoms]
        self.weights = self.adjoints(atoms, [self.R.from_expr(e) for e in slopes], self.R.from_expr(loss))
        self.loss = self.R.from_expr(loss)

    def adjoints(self, atoms, slopes, loss):
        """``dL/dA_k f_k'(arg_k)`` for every atom k (the weight of arg_k's own partials)."""
        adjoint = [loss.diff(self.gen[a]) for _, a in atoms]
        weights = [None] * len(atoms)
        for j in range(len(atoms) - 1, -1, -1):
            weights[j] = adjoint[j] * slopes[j]
            if weights[j]:
                for k, (_, a) in enumerate(atoms[:j]):
                    partial = self.args[j].diff(self.gen[a])
                    if partial:
                        adjoint[k] += weights[j] * partial
        return weights

    def gradient(self, s):
        out = self.loss.diff(self.gen[s])
        for arg, weight in zip(self.args, self.weights):
            if weight:
                partial = arg.diff(self.gen[s])
                if partial:
                    out += weight * partial
        return out


def slope(fname: str, arg, atom) -> sp.Expr:
    """f'(arg) by ``sympy.diff`` of the registered SymPy function (not the registered derivative: the
    proof checks that one), written through the atom A = f(arg) (sigma' = A (1 - A), tanh' = 1 - A^2).
    The argument is real, and jumps are not differentiated (a Dirac delta counts as 0, as step' = 0)."""
    if fname == "recip":
        return -atom ** 2
    x = sp.Dummy("x", real=True)
    f = ACTIVATIONS[fname].scalar
    d = sp.diff(f(x), x).replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    return d.xreplace({f(x): atom}).xreplace({x: arg})


# up to this many atoms the identity is decided as polynomials (RNN: 6-10, <1 s); above, at random points (GRU: 18)
EXACT_ATOMS = 12
POINTS, RANGE = 2, 2**40


def symbolic_check(program: Program, bw, sizes: dict, truncation: Truncation = FULL) -> dict[str, bool]:
    """For each argument: is its derived gradient exactly the brute-force chain-rule derivative?"""
    return symbolic_proof(program, bw, sizes, truncation)[0]


def symbolic_proof(program: Program, bw, sizes: dict, truncation: Truncation = FULL) -> tuple[dict, str]:
    """(argument -> bool, how it was decided): the zero polynomial test for small instances, else exact
    evaluation at random integer points (Schwartz-Zippel: a non-zero polynomial of degree D vanishes
    at a point drawn from a range of size S with probability at most D/S; S = 2^41, two points)."""
    backend, symbols, env, L, detached = instantiate(program, sizes, truncation)
    if len(backend.atoms) <= EXACT_ATOMS:
        return exact_identity(program, bw, truncation, backend, symbols, env, L, detached), "exact"
    return random_points(bw, truncation, backend, symbols, env, L, detached), f"exact at {POINTS} random points"


def exact_identity(program, bw, truncation, backend, symbols, env, L, detached) -> dict[str, bool]:
    derived = ev.backward(bw, env, truncation)
    chain = ChainRule(backend, L, [*(s for a in symbols.values() for s in a.ravel()), *detached])
    substitution = reattach(backend, detached)
    result = {}
    for name, syms in symbols.items():
        got = flat(derived[name])
        result[name] = all(equal(chain, chain.gradient(s), g, substitution) for s, g in zip(syms.ravel(), got))
    return result


def random_points(bw, truncation, backend, symbols, env, L, detached) -> dict[str, bool]:
    result = {name: True for name in symbols}
    for seed in range(POINTS):
        point = Point(backend, symbols, detached, seed)
        brute = point.gradient(L)
        values = ev.Env({k: v.xreplace(point.values) if hasattr(v, "xreplace") else v for k, v in env.items()},
                        env.sizes, OracleBackend(point))
        derived = ev.backward(bw, values, truncation)
        for name, syms in symbols.items():
            result[name] &= all(brute(s) - g == 0 for s, g in zip(syms.ravel(), flat(derived[name])))
    return result


class Point:
    """A random point: integers for the arguments, and for each activation ``f`` a random value per
    distinct argument value (so equal arguments give equal values, as a function must); detached
    states take their true values. All arithmetic on it is exact."""

    def __init__(self, backend: AtomBackend, symbols: dict, detached: dict, seed: int):
        self.rng = np.random.default_rng(seed)
        self.backend, self.oracle = backend, {}
        self.values = {s: self.draw() for a in symbols.values() for s in a.ravel()}
        for (fname, arg), atom in list(backend.atoms.items()):
            for dummy in (arg.free_symbols & detached.keys()) - self.values.keys():
                self.values[dummy] = detached[dummy].xreplace(self.values)
            self.values[atom] = self.function(fname, self.at(arg))

    def draw(self) -> sp.Integer:
        return sp.Integer(int(self.rng.integers(-RANGE, RANGE)))

    def function(self, fname: str, value):
        if fname == "recip":
            return 1 / value
        return self.oracle.setdefault((fname, value), self.draw())

    def at(self, e):
        return sp.sympify(e).xreplace(self.values)

    def slope(self, fname: str, arg, atom):
        """f'(arg) at the point: ``slope`` evaluated there (functions that f' brings in, such as relu's
        step, take their values from the oracle)."""
        names = {a.scalar: n for n, a in ACTIVATIONS.items()}
        d = slope(fname, arg, atom).replace(lambda e: isinstance(e, sp.Function) and type(e) in names,
                                            lambda e: self.function(names[type(e)], self.at(e.args[0])))
        return self.at(d)

    def gradient(self, L):
        """s -> dL/ds at the point, by the scalar chain rule over the atoms (one reverse sweep)."""
        atoms = list(self.backend.atoms.items())
        adjoint = [self.at(sp.diff(L, a)) for _, a in atoms]
        weights = [sp.Integer(0)] * len(atoms)
        for j in range(len(atoms) - 1, -1, -1):
            (fname, arg), atom = atoms[j]
            if adjoint[j]:
                weights[j] = adjoint[j] * self.slope(fname, arg, atom)
                for k, (_, b) in enumerate(atoms[:j]):
                    if arg.has(b):
                        adjoint[k] += weights[j] * self.at(sp.diff(arg, b))

        def gradient(s):
            shares = (w * self.at(sp.diff(arg, s)) for ((_, arg), _), w in zip(atoms, weights) if w and arg.has(s))
            return self.at(sp.diff(L, s)) + sum(shares, sp.Integer(0))

        return gradient


@dataclass(frozen=True)
class OracleBackend(SympyBackend):
    """Exact numbers at a point; an activation's value is the point's value of f at the argument."""

    point: Point = None

    def apply(self, fname, a):
        return a.applyfunc(lambda v: self.point.function(fname, v))


def reattach(backend: AtomBackend, detached: dict) -> dict:
    """Detached states -> their values, and each atom computed from them -> the atom of the same
    function of the substituted argument (which the forward pass at the true values created)."""
    mapping = dict(detached)
    for (fname, arg), atom in list(backend.atoms.items()):
        if arg.free_symbols & mapping.keys():
            mapping[atom] = backend.atom(fname, arg.xreplace(mapping))
    return mapping


def equal(chain: ChainRule, brute, derived, substitution: dict) -> bool:
    if substitution:
        brute = brute.as_expr().xreplace(substitution)
        return sp.expand(brute - derived) == 0
    return brute - chain.R.from_expr(derived) == 0


def flat(value) -> list:
    if isinstance(value, list):
        return [e for m in value for e in flat(m)]
    return list(value)
