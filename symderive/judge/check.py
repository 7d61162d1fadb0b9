r"""Judging a hand-derived derivative: is ``\frac{\partial L}{\partial W} = ...`` right, and if not, why?

A claim ``∂A/∂B = RHS`` is judged against the engine's derivation of the model:

* ``∂L/∂W`` (a parameter), ``∂L/∂h_t`` (a value at a step: the adjoint, through *all* later steps),
  ``∂ℓ_t/∂o_t`` (one step's loss), and Jacobians ``∂h_t/∂h_i`` (i ≤ t, all paths) come from the
  derived backward program, evaluated; a Jacobian row by row from unit seeds.
* The right-hand side is evaluated directly from the parse: symbols take the values of a forward run,
  ``\sum``/``\prod`` run over their bounds (a product of matrices in chain-rule order: the factor
  with the largest index on the left), free indices (``t``, ``i``) take every value in ``1..T``, and
  quantities outside ``1..T`` (``\delta_{T+1}``) are 0.
* Numerically at two size cases (all sizes distinct, so a transposition cannot hide behind a square
  matrix) with fixed seeds in float64; then symbolically at the first case: the same evaluation over
  explicit matrices of symbols, activations as atoms (see :mod:`symderive.symbolic`), the difference
  expanded to the zero polynomial under a time limit. If that does not finish, many more random
  points decide, and the result says so.
* A wrong claim is *diagnosed*: the usual mistakes are tried one by one (transposed, sign, a constant
  factor, a missing or extra activation derivative, a missing recurrent term, wrong sum bounds, h_t and
  h_{t-1} swapped, a product in the other order) and the one that explains the difference is named.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction

import numpy as np
import sympy as sp

from symderive.matrix import evaluate as ev
from symderive.matrix.derive import Backward, derive, inline, state_jacobian
from symderive.errors import ModelError, ShapeMismatchError, SymderiveError, UnknownSymbolError
from symderive.ops.nodes import T, TimeVar, ones, t
from symderive.ops.nodes import hadamard as hadamard_of
from symderive.ops.registry import ACTIVATIONS
from symderive.latex.parsed import IDENTITY, ONES, concat, entry, hadamard, norm, partial, transpose
from symderive.latex.reader import parse_sides
from symderive.latex.words import activation_of, activation_words
from symderive.latex.builder import HIDDEN_TARGET
from symderive.latex.names import base_name, is_variable
from symderive.latex.model import build_model
from symderive.model.program import Program, key

REL_TOL = 1e-8
SYMBOLIC_SECONDS = 5.0
FALLBACK_POINTS = 25


@dataclass
class ClaimResult:
    """The verdict on one claim: "equal", "not_equal" or "error"."""

    claim: str
    verdict: str
    diagnosis: str = ""
    max_rel_error: float | None = None
    counterexample: dict | None = None
    method: str = ""
    correct: str = ""

    @property
    def holds(self) -> bool:
        return self.verdict == "equal"

    def to_json(self) -> dict:
        return {"claim": self.claim, "verdict": self.verdict, "diagnosis": self.diagnosis,
                "max_rel_error": self.max_rel_error, "counterexample": self.counterexample,
                "method": self.method, "correct": self.correct}


@dataclass
class Subject:
    """What claims are judged against: a program, its derivation and how its names read in LaTeX."""

    program: Program
    backward: Backward
    loss_name: str = "L"
    step_loss: str | None = None
    where: dict = field(default_factory=dict)      # name -> (index symbols, parsed definition)
    latex_names: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)     # LaTeX-side name -> program name (h_0 -> h0)
    notes: list = field(default_factory=list)

    @cached_property
    def sequences(self) -> set:
        return {key(v) for v in (*self.program.inputs, *(a.target for a in self.program.assignments)) if isinstance(v, TimeVar)}

    @property
    def known(self) -> list[str]:
        names = {key(v) for v in (*ev.arguments(self.program), *(a.target for a in self.program.assignments))}
        names = {self.reverse_labels.get(n, n) for n in names if n != HIDDEN_TARGET}
        return sorted(names | set(self.where) | {self.loss_name} | ({self.step_loss} if self.step_loss else set()))

    @cached_property
    def argument_names(self) -> set:
        return {key(v) for v in ev.arguments(self.program)}

    @property
    def reverse_labels(self) -> dict:
        return {v: k for k, v in self.labels.items()}

    def dims(self) -> list:
        return self.program.dims()


def subject_of_latex(model: list[str], shapes: list[str] = ()) -> Subject:
    m = build_model(model, shapes)
    labels = {f"{s}_0": init.name for s, init in m.program.states.items()}
    step = m.step_loss or ("ell" if m.abstract_loss else None)
    return Subject(m.program, derive(m.program), m.loss_name, step, labels=labels, notes=list(m.notes))


def subject_of_derivation(d) -> Subject:
    """A built-in (matrix-level) derivation, in its documented notation (``W_{hh}``, ``\\delta_t``)."""
    if not hasattr(d, "program") or not hasattr(d.program, "assignments"):
        raise ModelError(f"{d.name} is an index-level derivation; `check` judges matrix-level models "
                         "(dense, rnn, lstm, gru) or a model given with --model")
    p = d.program
    where = {}
    for adjoint, latex in d.latex_names.items():
        if adjoint.startswith("d_") and latex.strip("\\").isalpha():
            var = adjoint[2:]
            rec = p.recurrent and var in {key(a.target) for a in p.assignments}
            lhs_index = (t,) if rec else ()
            of = sp.Symbol("L", commutative=False)
            wrt = sp.IndexedBase(sp.Symbol(var, commutative=False))[t] if rec else sp.Symbol(var, commutative=False)
            where[latex.strip("\\")] = (lhs_index, partial(of, wrt))
    labels = {f"{s}_0": init.name for s, init in p.states.items()}
    return Subject(p, d.backward, "L", "ell" if p.recurrent else None, where, d.latex_names, labels)


# ---------------------------------------------------------------------------------------------
# Values at one point.


class NotApplicable(Exception):
    """This combination of index values does not denote a derivative (∂h_t/∂h_i with i > t)."""


class Eye:
    """The identity matrix of whatever size it meets."""


class Nothing:
    """A value outside the steps 1..T (``\\delta_{T+1}``, ``h_{T+1}``): a zero of whatever shape it meets."""


NOTHING = Nothing()


def is_array(x) -> bool:
    return isinstance(x, (np.ndarray, sp.MatrixBase))


def shape_of(x) -> tuple:
    return tuple(x.shape) if is_array(x) else ()


def as_scalar(x):
    if is_array(x) and tuple(x.shape) == (1, 1):
        return x[0, 0]
    return x


@dataclass
class Point:
    """A forward and backward run of the subject at one size case (NumPy or explicit SymPy)."""

    subject: Subject
    sizes: dict
    seed: int
    symbolic: bool = False
    backward: Backward | None = None
    truncation: ev.Truncation = ev.FULL

    def __post_init__(self):
        from symderive.verify.symbolic import instantiate
        from symderive.verify.matrix_checks import random_arguments

        p = self.subject.program
        if self.symbolic:
            _, _, self.env, _, _ = instantiate(p, self.sizes, ev.FULL)
        else:
            self.env = ev.bind(p, random_arguments(p, self.sizes, self.seed), self.sizes, ev.NUMPY)
            ev.forward(p, self.env)
        self.grads = ev.backward(self.backward or self.subject.backward, self.env, self.truncation)
        self.steps = self.sizes.get(T, 1)

    @property
    def backend(self):
        return self.env.backend

    def variant(self, backward=None, truncation=None) -> "Point":
        return Point(self.subject, self.sizes, self.seed, self.symbolic, backward or self.backward, truncation or self.truncation)

    def zero(self, adjoint):
        return ev.evaluate(sp.ZeroMatrix(*adjoint.shape), self.env)

    def loss(self):
        return ev.loss(self.subject.program, self.env)

    # -- derivatives from the engine ------------------------------------------------------
    def adjoint_env(self, origin: int | None, var: str | None = None, seed=None) -> ev.Env:
        """Adjoints of one step's loss (``origin``), or of ``var`` at ``origin`` seeded with ``seed``."""
        bw = self.backward or self.subject.backward
        env = ev.Env(dict(self.env), self.sizes, self.backend)
        recurrent = self.subject.program.recurrent
        steps = range(origin, 0, -1) if recurrent else [None]
        if recurrent:
            for a in bw.steps:
                for r in range(1, self.steps + 1):
                    env[(a.adjoint.name, r)] = self.zero(a.adjoint)
        for r in steps:
            for a in bw.steps:
                slot = (a.adjoint.name, r) if recurrent else a.adjoint.name
                if var is not None and a.var == var and r == origin:
                    env[slot] = seed
                    continue
                terms = [term for term in a.terms
                         if (term.source != "loss" or (var is None and r == origin)) and (term.shift == 0 or (recurrent and r < origin))]
                env[slot] = ev.term_sum(terms, env, r, a.adjoint)
        return env

    def gradient_in(self, env, wrt):
        """The adjoint of ``wrt`` (a name, or (name, step)) in an adjoint environment."""
        bw = self.backward or self.subject.backward
        p = self.subject.program
        name, step = wrt if isinstance(wrt, tuple) else (wrt, None)
        if name in p.defined:
            adj = bw.adjoint_of.get(name)
            if adj is None:
                return self.zero(p.defined[name].target)
            return env[(adj.adjoint.name, step)] if step is not None else env[adj.adjoint.name]
        grads = {a.var: a for a in bw.grads}
        if name in grads:
            value = ev.argument_gradient(grads[name], env)
            return value[step - 1] if isinstance(value, list) else value
        raise ModelError(f"cannot differentiate with respect to {name}")


# ---------------------------------------------------------------------------------------------
# Evaluating a parsed expression.


class Evaluator:
    """Values of parsed LaTeX at a :class:`Point`; ``binding`` gives the index variables' values."""

    def __init__(self, point: Point, options: dict | None = None):
        self.point, self.subject = point, point.subject
        self.options = options or {}
        self.memo: dict = {}

    # -- arithmetic over NumPy or SymPy values ----------------------------------------------
    def sympy_values(self) -> bool:
        return self.point.symbolic

    def add(self, a, b, where):
        if a is NOTHING or b is NOTHING:
            return b if a is NOTHING else a
        if isinstance(a, Eye) or isinstance(b, Eye):
            other = b if isinstance(a, Eye) else a
            return self.add(self.eye(shape_of(other)[0]) if is_array(other) else 1, other, where)
        if is_array(a) and is_array(b):
            if shape_of(a) != shape_of(b):
                raise ShapeMismatchError(f"cannot add shapes {fmt(shape_of(a))} and {fmt(shape_of(b))} in {where}")
            return a + b
        if is_array(a) or is_array(b):
            arr, s = (a, b) if is_array(a) else (b, a)
            return arr + (s * sp.ones(*arr.shape) if self.sympy_values() else s)
        return a + b

    def mul(self, a, b, where):
        if a is NOTHING or b is NOTHING:
            return NOTHING
        if isinstance(a, Eye):
            return b
        if isinstance(b, Eye):
            return a
        if is_array(a) and is_array(b):
            if a.shape[1] != b.shape[0]:
                raise ShapeMismatchError(f"cannot multiply shapes {fmt(shape_of(a))} and {fmt(shape_of(b))} in {where}")
            return as_scalar(a * b if self.sympy_values() else a @ b)
        return a * b

    def hadamard(self, a, b, where):
        if a is NOTHING or b is NOTHING:
            return NOTHING
        if is_array(a) and is_array(b):
            if shape_of(a) != shape_of(b):
                raise ShapeMismatchError(f"cannot multiply entrywise shapes {fmt(shape_of(a))} and {fmt(shape_of(b))} in {where}")
            return a.multiply_elementwise(b) if self.sympy_values() else a * b
        return a * b

    def elementwise(self, f, a):
        if a is NOTHING:
            return NOTHING
        if is_array(a):
            return a.applyfunc(f) if self.sympy_values() else f(a)
        return f(a)

    def eye(self, n):
        return sp.eye(n) if self.sympy_values() else np.eye(n)

    def apply(self, fname: str, a, primes: int = 0):
        if a is NOTHING:
            return NOTHING
        backend = self.point.backend
        wrap = not is_array(a)
        if wrap:
            a = sp.Matrix([[a]]) if self.sympy_values() else np.array([[float(a)]])
        if primes == 0:
            out = backend.apply(fname, a)
        elif primes == 1:
            out = self.slope(fname, a)
        else:
            raise ModelError(f"second derivatives ({fname}'') are not supported")
        return as_scalar(out) if wrap else out

    def slope(self, fname, a):
        """f'(a) as the engine writes it (through f: tanh' = 1 - tanh^2, sigma' = sigma (1 - sigma)),
        evaluated by the reference interpreter from the function's registered derivative."""
        z, ans = sp.MatrixSymbol("z", *a.shape), sp.MatrixSymbol("ans", *a.shape)
        backend = self.point.backend
        env = ev.Env({"z": a, "ans": backend.apply(fname, a)}, {}, backend)
        return ev.evaluate(ACTIVATIONS[fname].derivative(ans, z), env)

    # -- the walk -----------------------------------------------------------------------------
    def value(self, e, binding: dict):
        where = f"'{e}'"
        if isinstance(e, (int, float)) or (isinstance(e, sp.Basic) and e.is_number):
            return sp.nsimplify(e) if self.sympy_values() else float(e)
        if e == IDENTITY:
            return Eye()
        if e == ONES:
            return 1
        if isinstance(e, sp.Symbol) and e.is_commutative:
            if e in binding:
                return binding[e]
            if e == T:
                return self.point.steps
            raise UnknownSymbolError(e.name, self.subject.known, "an index")
        if isinstance(e, (sp.Symbol, sp.Indexed)):
            return self.symbol(e, binding)
        if isinstance(e, sp.Add):
            out = None
            for a in e.args:
                v = self.value(a, binding)
                out = v if out is None else self.add(out, v, where)
            return out
        if isinstance(e, sp.Mul):
            out = None
            for a in e.args:
                v = self.value(a, binding)
                out = v if out is None else self.mul(out, v, where)
            return out
        if isinstance(e, hadamard):
            out = None
            for a in e.args:
                v = self.value(a, binding)
                out = v if out is None else self.hadamard(out, v, where)
            return out
        if isinstance(e, transpose):
            v = self.value(e.args[0], binding)
            return v.T if is_array(v) else v
        if isinstance(e, sp.Pow):
            base, p = self.value(e.base, binding), e.exp
            if not p.is_number:
                raise ModelError(f"only numeric powers are supported: {e}")
            if is_array(base) and p == -1:
                raise ModelError(f"write 1/x entrywise as x^{{\\circ -1}} is not supported: {e}")
            return self.elementwise(lambda x: x ** (p if self.sympy_values() else float(p)), base)
        if isinstance(e, partial):
            return self.derivative(e, binding)
        if isinstance(e, sp.Sum):
            return self.big_sum(e, binding)
        if isinstance(e, sp.Product):
            return self.big_product(e, binding)
        if isinstance(e, norm):
            v = self.value(e.args[0], binding)
            v = 0 if v is NOTHING else v
            total = sum(x * x for x in (list(v) if self.sympy_values() else np.ravel(v))) if is_array(v) else v * v
            return sp.sqrt(total) if self.sympy_values() else math.sqrt(total)
        if isinstance(e, sp.KroneckerDelta):
            i, j = (self.value(a, binding) for a in e.args)
            return 1 if i == j else 0
        if isinstance(e, concat):
            parts = [self.value(a, binding) for a in e.args]
            if any(p is NOTHING for p in parts):
                raise NotApplicable()
            return sp.Matrix.vstack(*parts) if self.sympy_values() else np.vstack(parts)
        if isinstance(e, entry):
            v = self.value(e.args[0], binding)
            idx = [int(self.value(a, binding)) - 1 for a in e.args[1:]]
            return v[idx[0], 0] if len(idx) == 1 else v[idx[0], idx[1]]
        if isinstance(e, sp.Function):
            return self.call(e, binding)
        raise ModelError(f"cannot evaluate {e}")

    def call(self, e, binding):
        name = type(e).__name__
        primes = len(name) - len(name.rstrip("'"))
        name = name.rstrip("'")
        if name == "diag":
            v = self.value(e.args[0], binding)
            if v is NOTHING:
                return NOTHING
            return sp.diag(*list(v)) if self.sympy_values() else np.diag(np.ravel(v))
        if name == "softmax":
            v = self.value(e.args[0], binding)
            if self.sympy_values():
                raise TimeoutError("softmax is checked numerically only")
            w = np.exp(v - v.max(axis=0))
            return w / w.sum(axis=0)
        if activation_of(name):
            return self.apply(activation_of(name), self.value(e.args[0], binding), primes)
        raise ModelError(f"{name}(...) is not a known function: use one of {', '.join(activation_words())}, "
                         "diag, softmax (an unspecified f(...) cannot be evaluated)")

    def index(self, e, binding) -> int:
        value = sp.sympify(e).xreplace({k: sp.Integer(v) for k, v in binding.items()}).xreplace({T: sp.Integer(self.point.steps)})
        if not value.is_Integer:
            free = sorted(str(s) for s in value.free_symbols)
            raise UnknownSymbolError(free[0] if free else str(e), self.subject.known, "an index")
        return int(value)

    def big_sum(self, e, binding):
        body, (var, lo, hi) = e.function, e.limits[0]
        lo, hi = self.index(lo, binding), self.index(hi, binding)
        out = 0
        for k in range(lo, hi + 1):
            v = self.value(body, {**binding, var: k})
            out = self.add(out, v, f"'{e}'") if not (isinstance(out, int) and out == 0) else v
        return out

    def big_product(self, e, binding):
        body, (var, lo, hi) = e.function, e.limits[0]
        lo, hi = self.index(lo, binding), self.index(hi, binding)
        order = range(lo, hi + 1) if self.options.get("ascending") else range(hi, lo - 1, -1)
        out = Eye()
        for k in order:
            out = self.mul(out, self.value(body, {**binding, var: k}), f"'{e}'")
        return out

    # -- symbols ------------------------------------------------------------------------------
    def symbol(self, e, binding):
        s, p = self.subject, self.point
        name = base_name(e)
        indices = [self.index(i, binding) for i in e.indices] if isinstance(e, sp.Indexed) else []
        name = s.labels.get(name, name)
        if indices and name not in s.sequences and name not in s.where:
            label = f"{name}_{''.join(map(str, indices))}"
            label = s.labels.get(label, label)
            if label in s.known or label in s.argument_names:
                return self.symbol(sp.Symbol(label, commutative=False), {})
        if name in s.where:
            return self.defined(name, indices, binding)
        if name == s.loss_name and not indices:
            return p.loss()
        program = s.program
        if name in s.sequences:
            if len(indices) != 1:
                raise ModelError(f"{name} is a sequence: write it with one time index ({name}_t)")
            step = indices[0]
            if step == 0 and name in program.states:
                return p.env[(name, 0)]
            if not 1 <= step <= p.steps:
                return NOTHING
            return p.env[(name, step)]
        if name in p.env and not indices:
            return p.env[name]
        raise UnknownSymbolError(name, s.known)

    def defined(self, name, indices, binding):
        variables, definition = self.subject.where[name]
        if len(variables) != len(indices):
            raise ModelError(f"{name} is defined with {len(variables)} index(es) but used with {len(indices)}")
        if variables and not all(1 <= k <= self.point.steps for k in indices):
            return NOTHING
        slot = (name, tuple(indices))
        if slot not in self.memo:
            self.memo[slot] = self.value(definition, dict(zip(variables, indices)))
        return self.memo[slot]

    # -- derivatives --------------------------------------------------------------------------
    def derivative(self, e, binding):
        of, wrt = e.args
        s, p = self.subject, self.point
        of_name = s.labels.get(base_name(of), base_name(of)) if is_variable(of) else None
        wrt_target = self.target(wrt, binding)
        if of_name == s.loss_name and not isinstance(of, sp.Indexed):
            return p.gradient_in(p.env, wrt_target)
        if of_name is not None and of_name == s.step_loss:
            origin = self.index(of.indices[0], binding) if isinstance(of, sp.Indexed) else None
            if s.program.recurrent and origin is None:
                raise ModelError(f"write the loss of one step with its index: \\{of_name}_t")
            if s.program.recurrent:
                if isinstance(wrt_target, tuple) and wrt_target[1] > origin:
                    return self.zero_of(wrt_target)
                return p.gradient_in(p.adjoint_env(origin), wrt_target)
            return p.gradient_in(p.env, wrt_target)
        if of_name is not None and of_name in s.program.defined:
            return self.jacobian(of_name, of, wrt_target, binding)
        if of_name is not None and of_name in s.where:
            raise ModelError(f"differentiate model quantities, not the definition {of_name}")
        raise UnknownSymbolError(base_name(of) if is_variable(of) else str(of), s.known, "a derivative")

    def zero_of(self, target):
        name, step = target
        return self.point.zero(self.subject.program.defined[name].target)

    def target(self, wrt, binding):
        """What ``∂/∂wrt`` differentiates with respect to: a name, or (name, step)."""
        s = self.subject
        if not is_variable(wrt):
            raise ModelError(f"differentiate with respect to one symbol, not {wrt}")
        name = s.labels.get(base_name(wrt), base_name(wrt))
        arguments = s.argument_names
        if isinstance(wrt, sp.Indexed):
            indices = [self.index(i, binding) for i in wrt.indices]
            if name in s.sequences:
                step = indices[0]
                if step == 0 and name in s.program.states:
                    return s.program.states[name].name
                if not 1 <= step <= self.point.steps:
                    raise NotApplicable()
                return (name, step)
            label = s.labels.get(f"{name}_{''.join(map(str, indices))}", f"{name}_{''.join(map(str, indices))}")
            if label in arguments or label in s.program.defined:
                return label
        elif name in arguments or name in s.program.defined:
            if name in s.sequences:
                raise ModelError(f"{name} is a sequence: differentiate with respect to {name}_t")
            return name
        raise UnknownSymbolError(base_name(wrt), s.known, "the denominator of a derivative")

    def jacobian(self, of_name, of, wrt_target, binding):
        """∂of/∂wrt for vectors: row k is the adjoint of wrt when of is seeded with e_k."""
        p, s = self.point, self.subject
        origin = None
        if s.program.recurrent:
            if not isinstance(of, sp.Indexed):
                raise ModelError(f"write {of_name} with its time index")
            origin = self.index(of.indices[0], binding)
            if not 1 <= origin <= p.steps:
                raise NotApplicable()
            if isinstance(wrt_target, tuple) and wrt_target[1] > origin:
                raise NotApplicable()
        states = s.program.states
        if (origin is not None and of_name in states and isinstance(wrt_target, tuple) and wrt_target[0] in states
                and wrt_target[1] == origin - 1):
            # one step of the state map, the other states held fixed (∂c_t/∂c_{t-1} = diag(f_t) for an LSTM)
            return ev.evaluate(state_jacobian(s.program, of_name, wrt_target[0]), p.env, origin)
        target = s.program.defined[of_name].target
        size = int(np.prod([ev.size(d, p.env) for d in target.shape]))
        if any(ev.size(d, p.env) != 1 for d in target.shape) and all(ev.size(d, p.env) != 1 for d in target.shape):
            raise ModelError(f"∂{of_name}/∂... of a matrix {of_name} is not supported (only vectors)")
        rows = []
        for k in range(size):
            seed = self.unit(target, k)
            env = p.adjoint_env(origin if origin is not None else None, of_name, seed)
            g = p.gradient_in(env, wrt_target)
            if is_array(g) and all(ev.size(d, p.env) != 1 for d in g.shape):
                raise ModelError("the derivative of a vector with respect to a matrix is a 3-tensor; "
                                 "claim ∂L/∂W instead")
            rows.append(list(g) if self.sympy_values() else np.ravel(g))
        return sp.Matrix(rows) if self.sympy_values() else np.array(rows)

    def unit(self, target, k):
        shape = tuple(ev.size(d, self.point.env) for d in target.shape)
        if self.sympy_values():
            m = sp.zeros(*shape)
            m[k] = 1
            return m
        m = np.zeros(shape)
        m.flat[k] = 1.0
        return m


def fmt(shape) -> str:
    return " x ".join(map(str, shape)) if shape else "scalar"


# ---------------------------------------------------------------------------------------------
# Comparing.


def difference(claim, truth) -> float:
    """Norm-relative difference (inf when the shapes differ)."""
    a, b = np.asarray(claim, dtype=float), np.asarray(truth, dtype=float)
    if a.shape != b.shape:
        if a.ndim == 0:
            a = np.full(b.shape, float(a))
        elif a.size == b.size and a.squeeze().shape == b.squeeze().shape and 1 in a.shape:
            a = a.reshape(b.shape)
        else:
            return math.inf
    scale = max(float(np.linalg.norm(b)), float(np.linalg.norm(a)), 1e-300)
    return float(np.linalg.norm(a - b)) / scale if (a.size and np.any(a - b)) else 0.0


@dataclass
class Claim:
    text: str
    lhs: sp.Basic
    rhs: sp.Basic

    @property
    def free(self) -> list:
        syms = (self.lhs.free_symbols | self.rhs.free_symbols)
        return sorted((s for s in syms if s.is_commutative and s.is_integer and s != T), key=str)


def read_claim(text: str, where: dict) -> Claim:
    sides = parse_sides(text)
    if len(sides) != 2:
        raise ModelError(f"a claim is 'DERIVATIVE = EXPRESSION': {text}")
    lhs, rhs = sides
    if is_variable(lhs) and base_name(lhs) in where and isinstance(where[base_name(lhs)][1], partial):
        variables, definition = where[base_name(lhs)]
        indices = lhs.indices if isinstance(lhs, sp.Indexed) else ()
        lhs = definition.xreplace(dict(zip(variables, indices)))
    if not isinstance(lhs, partial):
        raise ModelError("the left side of a claim must be a derivative (\\frac{\\partial L}{\\partial W}, "
                         f"\\partial_W L, \\nabla_W L): {text}")
    return Claim(text, lhs, rhs)


def read_where(subject: Subject, texts: list[str]) -> None:
    for text in texts:
        sides = parse_sides(text)
        if len(sides) < 2 or not is_variable(sides[0]):
            raise ModelError(f"a definition is 'NAME = EXPRESSION' (\\delta_t = ...): {text}")
        lhs = sides[0]
        variables = tuple(lhs.indices) if isinstance(lhs, sp.Indexed) else ()
        if not all(isinstance(v, sp.Symbol) for v in variables):
            raise ModelError(f"index a definition by letters (\\delta_t), not {lhs}")
        subject.where[base_name(lhs)] = (variables, sides[-1])


def bindings(claim: Claim, steps: int):
    """Every value of the claim's free indices: t in 1..T, other letters in 0..T."""
    free = claim.free
    ranges = [range(1, steps + 1) if s.name == "t" else range(0, steps + 1) for s in free]
    for combo in itertools.product(*ranges):
        yield dict(zip(free, combo))


@dataclass
class Comparison:
    worst: float = 0.0
    counterexample: dict | None = None
    compared: int = 0


def pairs(claim: Claim, point: Point, options=None, truth_point: Point | None = None):
    """``(binding, claimed, truth)`` for every value of the claim's free indices that denotes a derivative.

    The right-hand side is evaluated at ``point`` (with ``options``), the derivative at ``truth_point``
    (default: the same point); an identity or out-of-range claimed value takes the truth's shape."""
    claimed_eval, truth_eval = Evaluator(point, options), Evaluator(truth_point or point)
    for binding in bindings(claim, point.steps):
        try:
            truth = truth_eval.value(claim.lhs, binding)
        except NotApplicable:
            continue
        yield binding, shaped_like(claimed_eval.value(claim.rhs, binding), truth, point.symbolic), truth


def shaped_like(claimed, truth, symbolic: bool):
    """``Eye`` as the identity of the truth's size, ``NOTHING`` as its zero; other values unchanged."""
    if isinstance(claimed, Eye):
        if not is_array(truth):
            return 1
        return sp.eye(truth.shape[0]) if symbolic else np.eye(truth.shape[0])
    if claimed is NOTHING:
        return 0 * truth
    return claimed


def compare_at(claim: Claim, point: Point, options=None, truth_point: Point | None = None, out: Comparison | None = None,
               transform=None) -> Comparison:
    """Worst relative difference of the claim (optionally ``transform``-ed) over its index values."""
    out = out or Comparison()
    for binding, claimed, truth in pairs(claim, point, options, truth_point):
        if transform is not None:
            claimed = transform(np.asarray(claimed, dtype=float))
        d = difference(claimed, truth)
        out.compared += 1
        if d > out.worst:
            out.worst = d
            if d > REL_TOL and (out.counterexample is None or d == math.inf):
                out.counterexample = counterexample(point, binding, claimed, truth)
    return out


def counterexample(point: Point, binding: dict, claimed, truth) -> dict:
    sizes = {str(k): int(v) for k, v in point.sizes.items()}
    a, b = np.asarray(claimed, dtype=float), np.asarray(truth, dtype=float)
    out = {"sizes": sizes, "indices": {str(k): int(v) for k, v in binding.items()}, "seed": point.seed,
           "claimed_shape": list(a.shape), "correct_shape": list(b.shape)}
    if a.shape == b.shape or a.ndim == 0:
        a = np.broadcast_to(a, b.shape)
        idx = np.argwhere(~np.isclose(a, b, rtol=1e-7, atol=1e-10))[:4]
        out["entries"] = [{"at": [int(i) + 1 for i in ix], "claimed": float(a[tuple(ix)]), "correct": float(b[tuple(ix)])} for ix in idx]
    return out


# ---------------------------------------------------------------------------------------------
# The judge.


def size_cases(subject: Subject) -> list[dict]:
    """Two cases with every size distinct (2, 3, 4, ... and 3, 4, 5, ...), T = 3 and 4."""
    dims = subject.dims()
    cases = []
    for first, steps in ((2, 3), (3, 4)):
        sizes = {d: first + i for i, d in enumerate(dims)}
        if subject.program.recurrent:
            sizes[T] = steps
        cases.append(sizes)
    return cases


class Judge:
    """Judges claims against one subject, reusing the forward/backward runs."""

    def __init__(self, subject: Subject):
        self.subject = subject
        self.cases = size_cases(subject)
        self.points = [Point(subject, sizes, seed) for seed, sizes in enumerate(self.cases)]

    def judge(self, text: str) -> ClaimResult:
        try:
            claim = read_claim(text, self.subject.where)
            comparison = Comparison()
            for point in self.points:
                compare_at(claim, point, out=comparison)
            if comparison.compared == 0:
                raise ModelError("no value of the claim's indices denotes a derivative (check the time indices)")
        except SymderiveError as e:
            return ClaimResult(text, "error", str(e))
        sizes = "; ".join(case_text(c) for c in self.cases)
        if comparison.worst > REL_TOL:
            result = ClaimResult(text, "not_equal", max_rel_error=comparison.worst, counterexample=comparison.counterexample,
                                 method=f"numeric, float64, at {sizes}")
            result.diagnosis = self.diagnose(claim)
            result.correct = self.correct_latex(claim)
            return result
        proved, how = self.symbolic(claim)
        method = f"numeric at {sizes}; {how}"
        if not proved:
            extra = Comparison()
            for seed in range(10, 10 + FALLBACK_POINTS):
                compare_at(claim, Point(self.subject, self.cases[0], seed), out=extra)
            if extra.worst > REL_TOL:
                return ClaimResult(text, "not_equal", "differs at some random points", extra.worst, extra.counterexample, method)
            method += f"; equal at {FALLBACK_POINTS} more random points"
        return ClaimResult(text, "equal", "holds", comparison.worst, None, method)

    def symbolic(self, claim: Claim) -> tuple[bool, str]:
        """Exact check at the first size case: the difference must expand to the zero polynomial."""
        start = time.perf_counter()
        try:
            with time_limit(SYMBOLIC_SECONDS):
                point = Point(self.subject, self.cases[0], 0, symbolic=True)
                for _, claimed, truth in pairs(claim, point):
                    diff = (sp.Matrix(claimed) if is_array(claimed) else claimed) - truth
                    entries = list(diff) if is_array(diff) else [diff]
                    if any(sp.expand(x) != 0 for x in entries):
                        return False, "the symbolic difference did not reduce to 0 with activations as atoms"
        except TimeoutError:
            return False, f"the symbolic check did not finish in {SYMBOLIC_SECONDS:.0f} s"
        return True, f"proved symbolically at {case_text(self.cases[0])} ({time.perf_counter() - start:.1f} s)"

    # -- diagnosis ----------------------------------------------------------------------------
    def matches(self, claim: Claim, options=None, truth_points=None, transform=None, points=None) -> bool:
        for i, point in enumerate(points or self.points):
            c = Comparison()
            truth_point = truth_points[i] if truth_points else None
            try:
                compare_at(claim, point, options, truth_point, out=c, transform=transform)
            except (SymderiveError, NotApplicable, ValueError, TypeError):
                return False
            if c.compared == 0 or c.worst > 1e-7:
                return False
        return True

    def diagnose(self, claim: Claim) -> str:
        transposed = lambda x: x.T if np.ndim(x) == 2 else x  # noqa: E731
        if self.matches(claim, transform=transposed):
            return "matches if you transpose the right-hand side"
        if claim.rhs.has(sp.Product) and self.matches(claim, transform=transposed, options={"ascending": True}):
            return ("matches if you transpose the right-hand side: the product of transposed Jacobians is the transpose "
                    "of the Jacobian (denominator layout); as a Jacobian it is the product of the untransposed factors")
        if self.matches(claim, transform=lambda x: -x):
            return "off by a sign: the right-hand side has the wrong sign"
        factor = self.factor(claim)
        if factor:
            return factor
        for fname in sorted(self.activations()):
            for kind, make in (("missing", lambda a: ones(a)), ("extra", None)):
                bw = derive_with(self.subject.program, fname, kind)
                if bw is not None and self.matches(claim, points=[p.variant(backward=bw) for p in self.points]):
                    rule = ACTIVATIONS[fname].rule
                    return (f"the derivative of {fname} is missing (${rule}$)" if kind == "missing"
                            else f"the derivative of {fname} appears twice (${rule}$ once is enough)")
        if self.subject.program.recurrent:
            cut = [p.variant(truncation=ev.Truncation(k=1)) for p in self.points]
            if self.matches(claim, truth_points=cut) or self.matches(claim, points=cut):
                return ("a recurrent term is missing: every value at step t also reaches the loss through step t+1 "
                        "(the share carried back from t+1)")
            message = self.sum_bounds(claim)
            if message:
                return message
            for name in sorted(self.subject.program.states):
                swapped = swap_steps(claim, name)
                if swapped is not None and self.matches(swapped):
                    return f"{name}_t and {name}_{{t-1}} are swapped"
                for old, new, variant in shifted_steps(claim, name):
                    if self.matches(variant):
                        return f"{latex_indexed(old)} should be {latex_indexed(new)} (where it appears as {latex_indexed(old)})"
        if claim.rhs.has(sp.Product) and self.matches(claim, options={"ascending": True}):
            return ("the product is in the wrong order: the chain rule puts the factor of the latest step on the left "
                    "(read as written from the largest index down, it would match)")
        return "does not match the derivation; the correct expression is shown, and the entries that differ"

    def factor(self, claim: Claim) -> str:
        ratios = []
        try:
            for point in self.points:
                for _, claimed, truth in pairs(claim, point):
                    claimed, truth = np.asarray(claimed, dtype=float), np.asarray(truth, dtype=float)
                    if claimed.shape != truth.shape or not np.any(claimed):
                        return ""
                    ratios.append(float(np.sum(claimed * truth) / np.sum(claimed * claimed)))
        except (SymderiveError, ValueError, TypeError):
            return ""
        if not ratios or max(ratios) - min(ratios) > 1e-6 * max(1.0, abs(ratios[0])) or abs(ratios[0] - 1) < 1e-9:
            return ""
        c = ratios[0]
        if not self.matches(claim, transform=lambda x: c * x):
            return ""
        fraction = Fraction(c).limit_denominator(12)
        shown = str(fraction) if abs(float(fraction) - c) < 1e-9 else f"{c:.6g}"
        return f"off by a factor of {shown}: the right-hand side times {shown} is correct"

    def sum_bounds(self, claim: Claim) -> str:
        sums = list(claim.rhs.atoms(sp.Sum))
        for s in sums:
            var, lo, hi = s.limits[0]
            for dlo, dhi in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):
                new = sp.Sum(s.function, (var, lo + dlo, hi + dhi))
                variant = Claim(claim.text, claim.lhs, claim.rhs.xreplace({s: new}))
                if self.matches(variant):
                    return (f"the sum over {var} has the wrong bounds: it should run from {var} = {latex_bound(lo + dlo)} "
                            f"to {latex_bound(hi + dhi)}, not from {latex_bound(lo)} to {latex_bound(hi)}")
        return ""

    def activations(self) -> set:
        from symderive.ops.nodes import Elementwise

        names = set()
        for a in self.subject.program.assignments:
            names |= {e.fname for e in a.expr.atoms(Elementwise)}
        return names

    def correct_latex(self, claim: Claim) -> str:
        """The engine's formula for the derivative, where it is a single adjoint or a one-step Jacobian."""
        from symderive.matrix.latex_printer import to_latex

        of, wrt = claim.lhs.args
        s = self.subject
        try:
            name = s.labels.get(base_name(wrt), base_name(wrt))
            if is_variable(of) and base_name(of) == s.loss_name:
                adj = s.backward.adjoint_of.get(name)
                if adj is not None:
                    return to_latex(inline(adj.value(), s.backward, keep=set(s.program.states)), latex_names=s.latex_names)
            if (is_variable(of) and base_name(of) in s.program.states and isinstance(wrt, sp.Indexed)
                    and name in s.program.states and sp.expand(of.indices[0] - wrt.indices[0]) == 1):
                return to_latex(state_jacobian(s.program, base_name(of), name), latex_names=s.latex_names)
        except Exception:  # the formula is a courtesy; the verdict does not depend on it
            return ""
        return ""


def latex_bound(e) -> str:
    return sp.latex(e)


def swap_steps(claim: Claim, name: str):
    """The claim with ``name_{t+k}`` and ``name_{t+k-1}`` exchanged (None if it has no such pair)."""
    hits = [e for e in claim.rhs.atoms(sp.Indexed) if base_name(e) == name]
    if not hits:
        return None
    mapping = {}
    for e in hits:
        i = e.indices[0]
        other = sp.IndexedBase(e.base.label)[i - 1] if any(h.indices[0] == i - 1 for h in hits) else None
        if other is not None:
            mapping[e] = other
            mapping[other] = e
    return Claim(claim.text, claim.lhs, claim.rhs.xreplace(mapping)) if mapping else None


def shifted_steps(claim: Claim, name: str):
    """(old, new, claim) for each occurrence of ``name_{i}`` replaced by ``name_{i-1}`` or ``name_{i+1}``."""
    occurrences = [e for e in sp.preorder_traversal(claim.rhs) if isinstance(e, sp.Indexed) and base_name(e) == name]
    for n, old in enumerate(occurrences):
        for shift in (-1, 1):
            new = sp.IndexedBase(old.base.label)[old.indices[0] + shift]
            yield old, new, Claim(claim.text, claim.lhs, replace_nth(claim.rhs, n, new, name))


def replace_nth(expr, n: int, new, name: str):
    """``expr`` with its n-th occurrence (in preorder) of an Indexed ``name`` replaced by ``new``."""
    count = [0]

    def walk(e):
        if isinstance(e, sp.Indexed) and base_name(e) == name:
            count[0] += 1
            return new if count[0] - 1 == n else e
        if not e.args or isinstance(e, sp.Indexed):
            return e
        return e.func(*(walk(a) for a in e.args))

    return walk(expr)


def latex_indexed(e) -> str:
    return f"{base_name(e)}_{{{sp.latex(e.indices[0])}}}"


def derive_with(program: Program, fname: str, kind: str):
    """The backward program with f' replaced by 1 ("missing") or by f'^2 ("extra"); the registry is
    left as it is (the changed table is passed to the engine)."""
    act = ACTIVATIONS[fname]
    if kind == "missing":
        changed = dataclasses.replace(act, derivative=lambda ans, z: ones(ans))
    else:
        changed = dataclasses.replace(act, derivative=lambda ans, z: hadamard_of(act.derivative(ans, z), act.derivative(ans, z)))
    try:
        return derive(program, functions={**ACTIVATIONS, fname: changed})
    except SymderiveError:
        return None


def case_text(sizes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(((str(k), v) for k, v in sizes.items()), key=lambda kv: (kv[0] == "T", kv[0])))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the block after ``seconds`` (main thread on Unix; elsewhere unbounded)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------------------------
# The entry point.


def check(model=None, claims=(), where=(), shapes=None, derivation=None) -> list[ClaimResult]:
    r"""Judge each hand-derived claim against the model (LaTeX equations) or a built-in derivation.

        >>> check(model=[r"z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2"],
        ...       claims=[r"\frac{\partial L}{\partial W} = ((a - y) \odot a \odot (1 - a)) x^T"])

    ``shapes`` maps names to sizes (``{"W_{hh}": "n x n"}``) or is a list of ``'NAME: n x d'``.
    Errors in the model raise :class:`~symderive.errors.SymderiveError`; a claim that cannot be read
    gets the verdict "error" with the reason.
    """
    if isinstance(model, str):
        model = [model]
    if isinstance(claims, str):
        claims = [claims]
    if isinstance(where, str):
        where = [where]
    declared = [f"{k}: {v}" for k, v in shapes.items()] if isinstance(shapes, dict) else list(shapes or ())
    if derivation is not None:
        from symderive.derivations import derivation as built_in

        subject = subject_of_derivation(built_in(derivation) if isinstance(derivation, str) else derivation)
    elif model:
        subject = subject_of_latex(list(model), declared)
    else:
        raise ModelError("give the model's equations (--model) or the name of a built-in derivation")
    read_where(subject, list(where))
    if not claims:
        raise ModelError("give at least one claim (--claim '\\frac{\\partial L}{\\partial W} = ...')")
    judge = Judge(subject)
    return [judge.judge(text) for text in claims]


def describe(r: ClaimResult) -> str:
    """A claim's verdict as a few lines of text."""
    head = {"equal": "HOLDS", "not_equal": "DOES NOT HOLD", "error": "CANNOT BE CHECKED"}[r.verdict]
    lines = [r.claim, f"  {head}: {r.diagnosis}"]
    if r.method:
        lines.append(f"  checked: {r.method}" + (f" (max relative error {r.max_rel_error:.2g})" if r.max_rel_error is not None
                                                     and math.isfinite(r.max_rel_error) else ""))
    if r.correct:
        lines.append(f"  correct: {r.correct}    (\\bar{{v}} denotes dL/dv)")
    ce = r.counterexample
    if ce:
        where = ", ".join(f"{k}={v}" for k, v in {**ce["sizes"], **ce["indices"]}.items())
        lines.append(f"  counterexample at {where} (seed {ce['seed']}): claimed shape {fmt(ce['claimed_shape'])}, "
                     f"correct shape {fmt(ce['correct_shape'])}")
        for e in ce.get("entries", []):
            lines.append(f"    entry {tuple(e['at'])}: claimed {e['claimed']:.6g}, correct {e['correct']:.6g}")
    return "\n".join(lines)
