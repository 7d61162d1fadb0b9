"""A small interpreter of model expressions at explicit sizes, on NumPy or on explicit SymPy matrices.

It is the *reference* the generated code is checked against, so it shares nothing with the code
printer: column vectors are ``(n, 1)`` arrays (or ``sympy.Matrix``), every node is evaluated as
its definition says, and time steps are unrolled one by one.

Truncation (``Truncation``) follows the definitions of truncated BPTT:
``blocks`` -- no adjoint crosses from step s+1 into step s when s is a multiple of K;
``window`` -- the loss of step t only reaches steps t, ..., t-K+1.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, reduce

import numpy as np
import sympy as sp

from symderive.matrix.derive import Backward
from symderive.model.program import Program, arguments, is_fixed, key, shapes
from symderive.ops.nodes import T, TimeVar, t
from symderive.ops.registry import ACTIVATIONS, evaluate_node


@dataclass(frozen=True)
class NumpyBackend:
    def matmul(self, a, b):
        return a @ b

    def hadamard(self, a, b):
        return a * b

    def power(self, a, p):
        return a ** float(p)

    def apply(self, fname, a):
        return ACTIVATIONS[fname].reference(a)

    def full(self, shape, value):
        return np.full(shape, float(value))

    def scalar(self, value):
        return float(value)

    def diag(self, v):
        return np.diag(v.ravel())  # of a column or (in the row layout) a row vector

    def eye(self, n):
        return np.eye(n)

    def array(self, value, rows, cols):
        return np.asarray(value, dtype=float).reshape(rows, cols)

    def total(self, a):
        return float(np.sum(a))

    def stack(self, parts):
        return np.vstack(parts)


@dataclass(frozen=True)
class SympyBackend:
    def matmul(self, a, b):
        return a * b

    def hadamard(self, a, b):
        return a.multiply_elementwise(b)

    def power(self, a, p):
        return a.applyfunc(lambda e: e ** p)

    def apply(self, fname, a):
        return a.applyfunc(ACTIVATIONS[fname].scalar)

    def full(self, shape, value):
        return sp.Matrix(*shape, lambda i, j: value)

    def scalar(self, value):
        return sp.sympify(value)

    def diag(self, v):
        return sp.diag(*v)

    def eye(self, n):
        return sp.eye(n)

    def array(self, value, rows, cols):
        return sp.Matrix(rows, cols, list(np.ravel(value)))  # a 1 x 1 argument arrives as a 0-d array

    def total(self, a):
        return sum(a)

    def stack(self, parts):
        return sp.Matrix.vstack(*parts)


NUMPY, SYMPY = NumpyBackend(), SympyBackend()


class Env(dict):
    """Values by identifier (``"W_hh"``) or by (identifier, time step) (``("h", 3)``), plus sizes."""

    def __init__(self, values, sizes, backend):
        super().__init__(values)
        self.sizes, self.backend = sizes, backend


def size(expr, env: Env) -> int:
    expr = sp.sympify(expr)
    return int(expr) if expr.is_Integer else int(expr.xreplace(env.sizes))


@lru_cache(maxsize=4096)
def time_index(time, step, steps) -> int:
    """The step ``time`` denotes when ``t = step`` and ``T = steps``."""
    return int(time.xreplace({t: step, T: steps}))


@dataclass(frozen=True)
class Evaluation:
    """What a node's evaluation rule (``symderive.ops.registry.evaluate_node``) may use: the values and
    sizes in ``env``, its ``backend``, and the time ``step`` (``t = step``)."""

    env: Env
    step: int | None

    @property
    def backend(self):
        return self.env.backend

    def __call__(self, expr):
        """The value of a child at the same step."""
        return evaluate_node(expr, self)

    def at(self, expr, step: int):
        """The value of ``expr`` with ``t = step``."""
        return evaluate_node(expr, Evaluation(self.env, step))

    def size(self, expr) -> int:
        return size(expr, self.env)

    def time_index(self, time) -> int:
        return time_index(time, self.step, self.env.sizes.get(T))


def evaluate(expr, env: Env, step: int | None = None):
    """The value of ``expr`` with ``t = step`` and the sizes of ``env`` (each node type evaluates as
    its registration in ``symderive/ops`` says); the number of steps ``T`` a mean divides by is a number."""
    return evaluate_node(with_steps(expr, env.sizes.get(T)), Evaluation(env, step))


@lru_cache(maxsize=4096)
def with_steps(expr, steps):
    """``expr`` with the number of steps ``T`` written as the number ``steps`` (unless None)."""
    return expr if steps is None or not expr.has(T) else expr.xreplace({T: steps})


# ---------------------------------------------------------------------------------------------
# Forward: unrolled over time.


def forward(program: Program, env: Env, steps=None, frozen=None) -> None:
    """Fill ``env`` with every assigned value, for ``t`` in ``steps`` (default 1..T).

    ``frozen`` maps ``(state, s)`` to a value used in place of the state at time s (a detached state)."""
    for (name, s), value in (frozen or {}).items():
        env[(name, s)] = value
    if not program.recurrent:
        for a in program.assignments:
            env[key(a.target)] = evaluate(a.expr, env)
        return
    for s in steps if steps is not None else range(1, env.sizes[T] + 1):
        for a in program.assignments:
            env[(key(a.target), s)] = evaluate(a.expr, env, s)


def loss(program: Program, env: Env):
    """The scalar loss ``L`` (summed over time for recurrent models) of an evaluated forward."""
    if not program.recurrent:
        return step_loss(program, env, None)
    return sum((step_loss(program, env, s) for s in range(1, env.sizes[T] + 1)), env.backend.scalar(0))


def step_loss(program: Program, env: Env, s: int | None):
    """The loss of step ``s`` (of the model when None) as a scalar (a 1 x 1 loss is its entry)."""
    value = evaluate(program.loss, env, s)
    return env.backend.total(value) if getattr(program.loss, "is_Matrix", False) else value


@dataclass(frozen=True)
class Truncation:
    """Truncated BPTT after ``k`` steps, in ``mode`` "blocks" or "window"."""

    k: int
    mode: str = "blocks"

    def segments(self, steps: int) -> list[tuple[int, int, tuple[int, ...]]]:
        """``(first step, last step, steps whose loss counts)`` of each independently run piece.

        Blocks: consecutive pieces of k steps, each counting its own losses. Window: for each t,
        the steps t-k+1..t counting only the loss of step t."""
        if self.mode == "blocks":
            return [(b, min(b + self.k - 1, steps), tuple(range(b, min(b + self.k, steps + 1))))
                    for b in range(1, steps + 1, self.k)]
        return [(max(1, s - self.k + 1), s, (s,)) for s in range(1, steps + 1)]

    def term_active(self, term, s: int, origin: int | None) -> bool:
        """Does ``term`` of an adjoint at step s take part (origin: the loss step, in window mode)? A term of the
        loss enters from the loss of its own step: s + shift (a log-softmax fused into the step after)."""
        if self.mode == "blocks":
            return term.shift == 0 or s % self.k != 0
        return (term.source != "loss" or s + term.shift == origin) and (term.shift == 0 or s < origin)


FULL = Truncation(k=10**9)


def detached_loss(program: Program, env: Env, truncation: Truncation, frozen: dict):
    """``L`` as truncated BPTT sees it: each piece starts from a state held constant.

    ``frozen[(state, s)]`` is the value of the state at time s entering a piece that starts at s+1
    (a constant: fresh symbols, or the numbers of a forward at the point of interest)."""
    total = env.backend.scalar(0)
    for first, last, counted in truncation.segments(env.sizes[T]):
        if first > 1:
            for state in program.states:
                env[(state, first - 1)] = frozen[(state, first - 1)]
        forward(program, env, steps=range(first, last + 1))
        for s in counted:
            total = total + step_loss(program, env, s)
    return total


# ---------------------------------------------------------------------------------------------
# Backward: the derived adjoint formulas, evaluated.


def backward(bw: Backward, env: Env, truncation: Truncation = FULL) -> dict:
    """The gradient of every argument from the derived formulas (after a forward has filled env)."""
    if bw.program.recurrent:
        steps = env.sizes[T]
        if truncation.mode == "window":
            window_adjoints(bw, env, truncation, steps)
        else:
            for s in range(steps, 0, -1):
                step_adjoints(bw, env, truncation, s, origin=None, last=steps)
    else:
        for a in bw.steps:
            env[a.adjoint.name] = term_sum(a.terms, env, None)
    return {a.var: argument_gradient(a, env) for a in bw.grads}


def step_adjoints(bw, env, truncation, s, origin, last):
    for a in bw.steps:
        active = [term for term in a.terms
                  if (term.shift == 0 or s < last) and truncation.term_active(term, s, origin)]
        env[(a.adjoint.name, s)] = term_sum(active, env, s, a.adjoint)


def window_adjoints(bw, env, truncation, steps):
    """Each loss step back-propagated through its own window; the adjoints add up over windows."""
    totals = {}
    for origin in range(1, steps + 1):
        for s in range(origin, max(1, origin - truncation.k + 1) - 1, -1):
            step_adjoints(bw, env, truncation, s, origin, last=origin)
            for a in bw.steps:
                k = (a.adjoint.name, s)
                totals[k] = totals[k] + env[k] if k in totals else env[k]
    for s in range(1, steps + 1):
        for a in bw.steps:
            env[(a.adjoint.name, s)] = totals[(a.adjoint.name, s)]


def term_sum(terms, env, s, adjoint=None):
    if not terms:
        return evaluate(sp.ZeroMatrix(*adjoint.shape), env)
    return reduce(lambda a, c: a + c, (evaluate(term.expr, env, s) for term in terms))


def argument_gradient(a, env):
    if a.kind == "step" and isinstance(a.adjoint, TimeVar):
        return [term_sum(a.terms, env, s, a.adjoint) for s in range(1, env.sizes[T] + 1)]
    return term_sum(a.terms, env, 0 if a.kind == "initial" else None, a.adjoint)


# ---------------------------------------------------------------------------------------------
# Binding arrays (as the exported functions take them) to an environment.


def bind(program: Program, arrays: dict, sizes: dict, backend) -> Env:
    """An environment of column vectors/matrices from arrays shaped as ``model.shapes`` says.

    ``sizes`` maps size symbols (and ``T``) to integers; sequences become one entry per step."""
    env = Env({}, sizes, backend)
    for v in arguments(program):
        value = arrays[key(v)]
        rows, cols = (size(s, env) for s in v.shape)
        if isinstance(v, TimeVar):
            for s in range(1, sizes[T] + 1):
                env[(v.name, s)] = backend.array(value[s - 1], rows, cols)
        else:
            env[key(v)] = backend.array(value, rows, cols)
    for state, initial in program.states.items():
        env[(state, 0)] = evaluate(initial, env) if is_fixed(initial) else env[initial.name]
    return env


def sizes_of(program: Program, arrays: dict) -> dict:
    """Size symbols -> integers, read off numpy arrays shaped as ``model.shapes`` says."""
    out = {}
    by_name = {str(s): s for s in (*program.dims(), T)}
    for name, dims in shapes(program).items():
        for dim_name, n in zip(dims, np.shape(arrays[name])):
            if dim_name in by_name:  # compound sizes (d + e) follow from their parts
                out[by_name[dim_name]] = n
    return out
