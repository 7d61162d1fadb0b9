"""Shape-generic expression nodes the models are written in.

Everything is a SymPy ``MatrixExpr`` of symbolic size, so SymPy's own ``MatMul``, ``MatAdd``,
``Transpose`` and ``HadamardProduct`` combine with these nodes and check shapes:

* :class:`TimeVar` -- the vector ``v_{t+k}`` of a sequence at a (symbolic) time step;
* :class:`Elementwise` -- an activation ``f`` applied entry by entry, ``f(z)_i = f(z_i)``;
* :class:`SquaredNorm` -- the scalar ``||v||^2 = sum_i v_i^2``;
* :class:`TimeSum` -- ``sum_{t=lo}^{hi} M_t`` of a matrix expression over time.

The scalar activations are SymPy ``Function`` subclasses whose ``fdiff`` states the derivative.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import Expr, MatrixExpr
from sympy.core.symbol import Str
from sympy.core.sympify import _sympify

#: the generic time step every recurrent program is written for, and the sequence length.
t = sp.Symbol("t", integer=True)
T = sp.Symbol("T", integer=True, positive=True)


class sigmoid(sp.Function):
    """The logistic function sigma(x) = 1 / (1 + e^{-x}); sigma'(x) = sigma(x) (1 - sigma(x))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))


class step(sp.Function):
    """The Heaviside step with step(0) = 0 (the derivative of relu as PyTorch and JAX define it)."""

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return sp.S.One if x > 0 else sp.S.Zero

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_rewrite_as_Heaviside(self, x, **kwargs):
        return sp.Heaviside(x, 0)


class relu(sp.Function):
    """relu(x) = max(0, x); relu'(x) = step(x), taken as 0 at the kink x = 0."""

    def fdiff(self, argindex=1):
        return step(self.args[0])

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(0, x)


class softplus(sp.Function):
    """softplus(x) = log(1 + e^x); softplus'(x) = sigma(x)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


@dataclass(frozen=True)
class Activation:
    """Everything about one elementwise activation, in one row of :data:`ACTIVATIONS`.

    ``derivative(ans, z)`` is f'(z) as a matrix expression, written through the output
    ``ans = f(z)`` where that reads better (``1 - h ⊙ h`` for tanh); ``rule`` states it in LaTeX.
    """

    scalar: type
    derivative: Callable
    rule: str
    numpy: str


ACTIVATIONS: dict[str, Activation] = {}


def defactivation(name, scalar, derivative, rule, numpy):
    ACTIVATIONS[name] = Activation(scalar, derivative, rule, numpy)


class TimeVar(MatrixExpr):
    """The value ``name_{time}`` of a sequence of ``rows x cols`` matrices (vectors by default)."""

    def __new__(cls, name, time, rows, cols=1):
        name = Str(name) if isinstance(name, str) else name
        return MatrixExpr.__new__(cls, name, _sympify(time), _sympify(rows), _sympify(cols))

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def time(self) -> Expr:
        return self.args[1]

    @property
    def offset(self) -> Expr:
        """k in ``v_{t+k}``."""
        return sp.expand(self.time - t)

    @property
    def shape(self):
        return (self.args[2], self.args[3])

    @property
    def free_symbols(self):
        return set().union(*(a.free_symbols for a in self.args[1:]))

    def at(self, time) -> "TimeVar":
        """The same sequence at another time step."""
        return TimeVar(self.name, time, *self.shape)


class Elementwise(MatrixExpr):
    """``f(z)`` applied entry by entry, for an activation named in :data:`ACTIVATIONS`."""

    def __new__(cls, fname, arg):
        if str(fname) not in ACTIVATIONS:
            raise ValueError(f"unknown activation {fname!r}; known: {', '.join(sorted(ACTIVATIONS))}")
        fname = Str(fname) if isinstance(fname, str) else fname
        return MatrixExpr.__new__(cls, fname, _sympify(arg))

    @property
    def fname(self) -> str:
        return self.args[0].name

    @property
    def arg(self) -> MatrixExpr:
        return self.args[1]

    @property
    def shape(self):
        return self.arg.shape


class SquaredNorm(Expr):
    """The scalar ``||v||^2 = sum_i v_i^2`` of a vector (or Frobenius norm of a matrix)."""

    is_commutative = True

    def __new__(cls, arg):
        return Expr.__new__(cls, _sympify(arg))

    @property
    def arg(self) -> MatrixExpr:
        return self.args[0]


class TimeSum(MatrixExpr):
    """``sum_{var=lo}^{hi} body`` of a matrix expression over time steps."""

    def __new__(cls, body, var=t, lo=1, hi=T):
        return MatrixExpr.__new__(cls, _sympify(body), var, _sympify(lo), _sympify(hi))

    @property
    def body(self) -> MatrixExpr:
        return self.args[0]

    @property
    def limits(self):
        return self.args[1:]

    @property
    def shape(self):
        return self.body.shape

    @property
    def free_symbols(self):
        var, lo, hi = self.limits
        return (self.body.free_symbols - {var}) | lo.free_symbols | hi.free_symbols


def tanh(z):
    return Elementwise("tanh", z)


def sigma(z):
    return Elementwise("sigmoid", z)


def hadamard(*factors):
    """The elementwise (Hadamard) product ``a ⊙ b ⊙ ...``."""
    return sp.HadamardProduct(*factors).doit() if len(factors) > 1 else factors[0]


def ones(like: MatrixExpr) -> MatrixExpr:
    """The all-ones matrix of the shape of ``like`` (the ``1`` in ``1 - h ⊙ h``)."""
    return sp.OneMatrix(*like.shape)


def time_vars(expr) -> list[TimeVar]:
    """Every TimeVar in ``expr``, in a deterministic order."""
    return sorted(expr.atoms(TimeVar), key=sp.default_sort_key)


# One row per activation: f, f' (through ans = f(z) where that reads better), the rule, NumPy.
defactivation("tanh", sp.tanh, lambda ans, z: ones(ans) - hadamard(ans, ans),
              r"\tanh'(z) = 1 - \tanh^2(z)", "np.tanh({})")
defactivation("sigmoid", sigmoid, lambda ans, z: hadamard(ans, ones(ans) - ans),
              r"\sigma'(z) = \sigma(z)\,(1 - \sigma(z))", "_sigmoid({})")
defactivation("relu", relu, lambda ans, z: Elementwise("step", z),
              r"\operatorname{relu}'(z) = [z > 0]", "np.maximum({}, 0.0)")
defactivation("step", step, lambda ans, z: sp.ZeroMatrix(*z.shape),
              r"[z > 0]' = 0 \text{ (almost everywhere)}", "np.heaviside({}, 0.0)")
defactivation("softplus", softplus, lambda ans, z: Elementwise("sigmoid", z),
              r"\operatorname{softplus}'(z) = \sigma(z)", "np.logaddexp(0.0, {})")
defactivation("exp", sp.exp, lambda ans, z: ans, r"(e^{z})' = e^{z}", "np.exp({})")
defactivation("log", sp.log, lambda ans, z: sp.HadamardPower(z, -1), r"(\log z)' = 1/z", "np.log({})")


class Concat(MatrixExpr):
    """The stacked column vector ``[a; b; ...]`` (``W [h_{t-1}; x_t]`` as many notes write a gate)."""

    def __new__(cls, *parts):
        parts = [_sympify(p) for p in parts]
        if any(p.shape[1] != 1 for p in parts):
            raise ValueError("only column vectors can be concatenated")
        return MatrixExpr.__new__(cls, *parts)

    @property
    def shape(self):
        return (sp.Add(*(p.shape[0] for p in self.args)), sp.S.One)

    def offsets(self) -> list:
        """(start, stop) rows of each part."""
        out, start = [], sp.S.Zero
        for p in self.args:
            out.append((start, start + p.shape[0]))
            start += p.shape[0]
        return out


class Rows(MatrixExpr):
    """Rows ``start .. stop-1`` (0-based) of a column vector: the share of one part of a concatenation."""

    def __new__(cls, arg, start, stop):
        return MatrixExpr.__new__(cls, _sympify(arg), _sympify(start), _sympify(stop))

    @property
    def shape(self):
        return (self.args[2] - self.args[1], sp.S.One)
