r"""Judging claims about a model of abstract functions, as d2l writes BPTT: ``h_t = f(x_t, h_{t-1}, w_h)``,
``o_t = g(h_t, w_o)``, ``L = \frac{1}{T}\sum_{t=1}^{T} l(y_t, o_t)``.

A claim about such a model must hold for *every* differentiable ``f``, ``g``, ``l``. It is judged on scalars at
several instances: each abstract function of k arguments becomes a generic smooth function
``F(a) = \tanh(c_0 + \sum_i c_i a_i + \sum_{i \le j} c_{ij} a_i a_j)`` with random coefficients, every input
(``x_t``, ``y_t``, ``h_0``, ``w_h``, ...) a random number, ``T`` = :data:`STEPS`. Then

* ``\frac{\partial f(x_t, h_{t-1}, w_h)}{\partial h_{t-1}}``, whose variable is an argument of the call, is the
  partial derivative of f in that argument, the others held fixed;
* any other ``\frac{\partial A}{\partial B}`` (``\partial h_t / \partial w_h``, ``\partial l(y_t, o_t) /
  \partial w_h``) is the total derivative through the model: the forward run repeated with B a symbol, A
  differentiated by SymPy and evaluated;
* free index letters (``t``) take every value ``1..T``; sums and products run over their bounds.

Equal means a relative difference below :data:`REL_TOL` at every value of every instance. (On scalars the
factors of a product commute, so the order of the Jacobians in a product is not tested here.)
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from symderive.errors import ModelError, UnknownSymbolError
from symderive.judge.compare import REL_TOL
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import hadamard, partial, transpose
from symderive.latex.shapes import VECTOR_FUNCTIONS
from symderive.latex.words import activation_of
from symderive.ops.nodes import T, t
from symderive.ops.registry import function_named

#: the number of steps and the instances (seeds) a claim is judged at
STEPS = 4
SEEDS = (0, 1, 2)
#: the most terms the sums and products of a claim may run over at one value of its indices
MAX_TERMS = 2000


def is_abstract_call(e) -> bool:
    """A call of a function the model language does not know (``f(x_t, h_{t-1}, w_h)``, ``l(y_t, o_t)``)."""
    name = type(e).__name__
    return (isinstance(e, AppliedUndef) and activation_of(name) is None and name not in VECTOR_FUNCTIONS
            and not isinstance(e, (partial, hadamard, transpose)))


def has_abstract_call(e) -> bool:
    return any(is_abstract_call(f) for f in e.atoms(sp.Function))


@dataclass(frozen=True)
class AbstractModel:
    """Equations ``(lhs, rhs)`` as parsed, in the order of the notes; lhs ``h[t]`` (a step) or ``L``."""

    equations: tuple

    @property
    def defined(self) -> set:
        return {base_name(lhs) for lhs, _ in self.equations}

    @property
    def names(self) -> set:
        """Every name of a value the equations define or use."""
        return {base_name(a) for lhs, rhs in self.equations for side in (lhs, rhs)
                for a in side.atoms(sp.Symbol, sp.Indexed) if is_variable(a)}

    @property
    def functions(self) -> dict:
        """Every abstract function and its number of arguments."""
        calls = [f for _, rhs in self.equations for f in rhs.atoms(sp.Function) if is_abstract_call(f)]
        return {type(f).__name__: len(f.args) for f in calls}


@dataclass(frozen=True)
class Dual:
    """``value + slope·ε`` with ε² = 0: a number and its derivative in the one value a run leaves free."""

    value: float
    slope: float = 0.0

    def __add__(self, other):
        other = dual(other)
        return Dual(self.value + other.value, self.slope + other.slope)

    __radd__ = __add__

    def __mul__(self, other):
        other = dual(other)
        return Dual(self.value * other.value, self.slope * other.value + self.value * other.slope)

    __rmul__ = __mul__

    def __pow__(self, power: float):
        if power != int(power) and self.value <= 0:
            raise ModelError(f"a power {power} of a value that is not positive ({self.value:.3g})")
        return Dual(self.value ** power, power * self.value ** (power - 1) * self.slope if self.slope else 0.0)

    def apply(self, value: float, slope: float) -> "Dual":
        """f(self) for f with ``value`` = f(self.value), ``slope`` = f'(self.value) (the chain rule)."""
        return Dual(value, slope * self.slope)


def dual(x) -> Dual:
    return x if isinstance(x, Dual) else Dual(float(x))


@dataclass(frozen=True)
class GenericFunction:
    r"""``F(a) = \tanh(c_0 + c^\top a + \tfrac12 a^\top C a)`` with ``C`` symmetric: smooth, every partial
    derivative nonzero almost everywhere, ``\nabla F(a) = (1 - F^2)(c + C a)``."""

    c0: float
    c: np.ndarray
    C: np.ndarray

    @classmethod
    def random(cls, arity: int, rng) -> "GenericFunction":
        c = rng.uniform(0.3, 1.0, size=arity) * rng.choice([-1, 1], size=arity)
        C = rng.uniform(-0.5, 0.5, size=(arity, arity))
        return cls(float(rng.uniform(-0.5, 0.5)), c, (C + C.T) / 2)

    def value_and_gradient(self, a: np.ndarray) -> tuple[float, np.ndarray]:
        value = float(np.tanh(self.c0 + self.c @ a + a @ self.C @ a / 2))
        return value, (1 - value ** 2) * (self.c + self.C @ a)

    def __call__(self, *args) -> Dual:
        args = [dual(a) for a in args]
        value, gradient = self.value_and_gradient(np.array([a.value for a in args]))
        return Dual(value, float(sum(g * a.slope for g, a in zip(gradient, args))))


@dataclass
class Instance:
    """One instance of the model: its functions, its inputs' values, and forward runs with one value free."""

    model: AbstractModel
    seed: int
    functions: dict = field(init=False)
    inputs: dict = field(init=False)
    runs: dict = field(default_factory=dict)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        self.functions = {name: GenericFunction.random(k, rng) for name, k in sorted(self.model.functions.items())}
        self.rng, self.inputs = rng, {}

    def input(self, key: tuple) -> float:
        """The value of an input (``("x", 3)``, ``("w_h", None)``), drawn when first asked; a name the model does
        not use is refused (a claim about it would silently see a constant)."""
        if key[0] not in self.model.names:
            raise UnknownSymbolError(key[0], sorted(self.model.names))
        if key not in self.inputs:
            self.inputs[key] = float(self.rng.uniform(-1.0, 1.0))
        return self.inputs[key]

    def function(self, name: str) -> GenericFunction:
        """The instance of the abstract function ``name``; one the model does not use is refused."""
        if name not in self.functions:
            raise UnknownSymbolError(f"{name}(...)", sorted(self.functions), "a claim (a function)")
        return self.functions[name]

    def run(self, free: tuple | None = None) -> dict:
        """The forward values ``{(name, step): Dual}``; with ``free`` the key of an input or a defined value, that
        value has slope 1, so every value after it carries its derivative in it."""
        if free in self.runs:
            return self.runs[free]
        env, override = {}, {}
        if free is not None:
            start = self.run()
            override[free] = Dual((start[free] if free in start else dual(self.input(free))).value, 1.0)
        steps = [(lhs, rhs) for lhs, rhs in self.model.equations if isinstance(lhs, sp.Indexed)]
        for step in range(1, STEPS + 1):
            for lhs, rhs in steps:
                key = (base_name(lhs), step)
                env[key] = override.get(key) or Evaluation(self, env, override, {t: step}).value(rhs)
        for lhs, rhs in self.model.equations:
            if not isinstance(lhs, sp.Indexed):
                key = (base_name(lhs), None)
                env[key] = override.get(key) or Evaluation(self, env, override, {}).value(rhs)
        self.runs[free] = env
        return env


@dataclass
class Evaluation:
    """The value of a parsed expression at an instance's forward run ``env``, index letters bound by ``binding``;
    ``override`` holds the value a run leaves free (a derivative is not taken inside one)."""

    instance: Instance
    env: dict
    override: dict
    binding: dict
    terms: list = field(default_factory=lambda: [0])

    def key(self, e) -> tuple:
        """``("h", 3)`` for ``h_{t-1}`` at t = 4; ``("w_h", None)`` for ``w_h``."""
        if isinstance(e, sp.Indexed):
            if len(e.indices) != 1:
                raise ModelError(f"a value of an abstract model has one time index, not {e}")
            step = self.integer(e.indices[0])
            if not 0 <= step <= STEPS:
                raise IndexError(step)
            return base_name(e), step
        return base_name(e), None

    def integer(self, index) -> int:
        value = sp.sympify(sp.sympify(index).xreplace({**self.binding, T: STEPS}))
        if not value.is_Integer:
            raise ModelError(f"the index {index} has no value here (bind its letters with a sum or a free index)")
        return int(value)

    def value(self, e) -> Dual:
        """The value of ``e`` with its slope in the run's free value."""
        if is_variable(e):
            key = self.key(e)
            if key in self.override:
                return self.override[key]
            return self.env[key] if key in self.env else dual(self.instance.input(key))
        if isinstance(e, partial):
            return dual(self.derivative(*e.args))
        if isinstance(e, (sp.Sum, sp.Product)):
            return self.loop(e)
        if isinstance(e, sp.Function):
            return self.function(e)
        if isinstance(e, sp.Symbol) and e.is_integer:
            return dual(self.integer(e))
        if e.is_Number:
            return dual(e)
        if isinstance(e, sp.Add):
            return sum((self.value(a) for a in e.args), Dual(0.0))
        if isinstance(e, sp.Mul):
            return product(self.value(a) for a in e.args)
        if isinstance(e, sp.Pow) and e.exp.is_Number:
            return self.value(e.base) ** float(e.exp)
        raise ModelError(f"cannot evaluate {e} in a model of abstract functions")

    def function(self, e) -> Dual:
        """A call: an abstract function (its instance), a transpose (itself, on scalars), a Hadamard product
        (a product), or a registered activation."""
        args = [self.value(a) for a in e.args]
        if is_abstract_call(e):
            return self.instance.function(type(e).__name__)(*args)
        if isinstance(e, transpose):
            return args[0]
        if isinstance(e, hadamard):
            return product(args)
        if activation_of(type(e).__name__) is None or len(args) != 1:
            raise ModelError(f"cannot evaluate {e} in a model of abstract functions")
        return args[0].apply(*activation_at(function_named(type(e).__name__).scalar, args[0].value))

    def loop(self, e) -> Dual:
        """A sum or product over its bounds (on scalars the order of the factors does not matter)."""
        (var, low, high), = e.limits
        values = []
        for k in range(self.integer(low), self.integer(high) + 1):
            self.terms[0] += 1
            if self.terms[0] > MAX_TERMS:
                raise ModelError(f"the claim's sums and products run over more than {MAX_TERMS} terms")
            values.append(Evaluation(self.instance, self.env, self.override, {**self.binding, var: k},
                                     self.terms).value(e.function))
        return sum(values, Dual(0.0)) if isinstance(e, sp.Sum) else product(values)

    def derivative(self, of, wrt) -> float:
        """``∂of/∂wrt``: in one argument of an abstract call whose argument ``wrt`` is, else the total derivative."""
        if self.override:
            raise ModelError("a derivative inside a derivative is not judged in an abstract model")
        if is_abstract_call(of) and wrt in of.args:
            at = np.array([self.value(a).value for a in of.args])
            return float(self.instance.function(type(of).__name__).value_and_gradient(at)[1][of.args.index(wrt)])
        if not is_variable(wrt):
            raise ModelError(f"a derivative is taken with respect to a value of the model, not {wrt}")
        key = self.key(wrt)
        run = self.instance.run(key)
        return Evaluation(self.instance, run, {key: run.get(key) or Dual(self.instance.input(key), 1.0)},
                          self.binding, self.terms).value(of).slope


def product(values) -> Dual:
    result = Dual(1.0)
    for v in values:
        result = result * v
    return result


def activation_at(scalar, x: float) -> tuple[float, float]:
    """(f(x), f'(x)) of a registered activation's SymPy function."""
    u = sp.Dummy("u")
    expression = scalar(u)
    return float(expression.subs(u, x)), float(sp.diff(expression, u).subs(u, x))


def judge_abstract(model: AbstractModel, lhs, rhs) -> tuple[bool, str]:
    """(holds, diagnosis): ``lhs = rhs`` at every instance and every value of the free index letters."""
    letters = sorted((s for s in (lhs.free_symbols | rhs.free_symbols) if s.is_integer and s != T), key=str)
    failures, compared = [], 0
    for seed in SEEDS:
        instance = Instance(model, seed)
        base = instance.run()
        for values in itertools.product(range(1, STEPS + 1), repeat=len(letters)):
            binding = dict(zip(letters, values))
            try:
                left = Evaluation(instance, base, {}, binding).value(lhs).value
                right = Evaluation(instance, base, {}, binding).value(rhs).value
            except IndexError:  # a step outside 0..T at this value of the letters
                continue
            compared += 1
            if not abs(left - right) <= REL_TOL * max(1.0, abs(left)):
                failures.append((seed, binding, left, right))
    if not compared:
        raise ModelError("no value of the claim's indices can be evaluated (check the time indices)")
    return not failures, diagnosis(failures, letters)


def diagnosis(failures: list, letters: list) -> str:
    """The first index values where the claim differs, with both values, and at which steps it held."""
    if not failures:
        return ""
    seed, binding, correct, claimed = failures[0]
    at = ", ".join(f"{k} = {v}" for k, v in binding.items())
    text = (f"differs at {at or 'every value'} for generic f, g, l (instance {seed}): claimed {claimed:.6g}, "
            f"correct {correct:.6g}")
    ratios = {round(claimed / correct, 6) for _, _, correct, claimed in failures if correct}
    if len(ratios) == 1 and len(failures) > 1 and 0 not in ratios:
        return text + f"; the claim is {ratios.pop():g} times the derivative everywhere (a constant factor)"
    if len(letters) == 1:
        wrong = sorted({b[letters[0]] for _, b, _, _ in failures})
        right = [k for k in range(1, wrong[0])]
        if right:
            text += (f"; it holds for {letters[0]} = {', '.join(map(str, right))} only: a term of the recurrence is "
                     f"missing or extra (the bounds of a sum or product?)")
    return text


def bptt_formula(model: AbstractModel, lhs) -> str:
    r"""d2l's general form of ``\frac{\partial s_t}{\partial p}`` (``lhs``) where the model has ``s_t = F(..., s_{t-1},
    ..., p, ...)``: ``\frac{\partial F_t}{\partial p} + \sum_{i=1}^{t-1} (\prod_{j=i+1}^{t} \frac{\partial F_j}
    {\partial s_{j-1}}) \frac{\partial F_i}{\partial p}``; "" for any other derivative."""
    if not isinstance(lhs, partial) or not isinstance(lhs.args[0], sp.Indexed) or lhs.args[0].indices != (t,):
        return ""
    state, wrt = lhs.args
    step = next((rhs for left, rhs in model.equations if left == state and is_abstract_call(rhs)), None)
    previous = state.base[t - 1]
    if step is None or previous not in step.args or wrt not in step.args or isinstance(wrt, sp.Indexed):
        return ""
    i, j = sp.Symbol("i", integer=True), sp.Symbol("j", integer=True)

    def d(at, var):
        return rf"\frac{{\partial {call_latex(step.xreplace({t: at}))}}}{{\partial {value_latex(var)}}}"
    return (rf"{d(t, wrt)} + \sum_{{i=1}}^{{t-1}} \left(\prod_{{j=i+1}}^{{t}} {d(j, state.base[j - 1])}\right) "
            rf"{d(i, wrt)}")


def call_latex(call) -> str:
    """``f(x_{t}, h_{t-1}, w_{h})``: an abstract call as notes write it."""
    return f"{type(call).__name__}({', '.join(value_latex(a) for a in call.args)})"


def value_latex(e) -> str:
    """``h_{t-1}``, ``w_{h}``: a value of the model in LaTeX."""
    if isinstance(e, sp.Indexed):
        return f"{sp.latex(e.base.label)}_{{{sp.latex(e.indices[0]).replace(' ', '')}}}"
    return sp.latex(e)
