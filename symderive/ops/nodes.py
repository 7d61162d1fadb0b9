"""Shape-generic expression nodes the models are written in.

Everything is a SymPy ``MatrixExpr`` of symbolic size, so SymPy's own ``MatMul``, ``MatAdd``,
``Transpose`` and ``HadamardProduct`` combine with these nodes and check shapes:

* :class:`TimeVar` -- the vector ``v_{t+k}`` of a sequence at a (symbolic) time step;
* :class:`Elementwise` -- an activation ``f`` applied entry by entry, ``f(z)_i = f(z_i)``;
* :class:`SquaredNorm` -- the scalar ``||v||^2 = sum_i v_i^2``;
* :class:`TimeSum` -- ``sum_{t=lo}^{hi} M_t`` of a matrix expression over time.

* :class:`Concat` and :class:`Rows` -- a stacked vector ``[a; b]`` and the rows of one part.

Each node's vector-Jacobian rule, row-convention transpose and reference evaluation are registered
right after its class; its LaTeX and NumPy printing are the printers' ``_print_<Class>`` methods.
"""
from __future__ import annotations

import sympy as sp
from sympy import Expr, MatrixExpr
from sympy.core.symbol import Str
from sympy.core.sympify import _sympify

from symderive.errors import ModelError
from symderive.ops.registry import ACTIVATIONS, defvjp, evaluate_node, row_form

#: the generic time step every recurrent program is written for, and the sequence length.
t = sp.Symbol("t", integer=True)
T = sp.Symbol("T", integer=True, positive=True)


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

    @property
    def prev(self) -> "TimeVar":
        """The value one step earlier, ``v_{t-1}`` for ``v_t`` (a state read by the next step)."""
        return self.at(self.time - 1)


@row_form.register
def _row_timevar(e: TimeVar):
    rows, cols = e.shape
    return TimeVar(e.name, e.time, cols, rows)


@evaluate_node.register
def _evaluate_timevar(e: TimeVar, ev):
    return ev.env[(e.name, ev.time_index(e.time))]


class Elementwise(MatrixExpr):
    """``f(z)`` applied entry by entry, for an activation named in :data:`ACTIVATIONS`."""

    def __new__(cls, fname, arg):
        if str(fname) not in ACTIVATIONS:
            raise ModelError(f"unknown elementwise function {fname!r}; known: {', '.join(sorted(ACTIVATIONS))} "
                             "(register one with symderive.deffunction)")
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


@defvjp(Elementwise, r"y = f(z) \;\Rightarrow\; \bar z = \bar y \odot f'(z)")
def _elementwise_vjp(node, g, ans, functions):
    return [(node.arg, hadamard(g, functions[node.fname].derivative(ans, node.arg)))]


@row_form.register
def _row_elementwise(e: Elementwise):
    return Elementwise(e.fname, row_form(e.arg))


@evaluate_node.register
def _evaluate_elementwise(e: Elementwise, ev):
    return ev.backend.apply(e.fname, ev(e.arg))


class SquaredNorm(Expr):
    """The scalar ``||v||^2 = sum_i v_i^2`` of a vector (or Frobenius norm of a matrix)."""

    is_commutative = True

    def __new__(cls, arg):
        return Expr.__new__(cls, _sympify(arg))

    @property
    def arg(self) -> MatrixExpr:
        return self.args[0]


@defvjp(SquaredNorm, r"y = \|v\|^2 \;\Rightarrow\; \bar v = 2\,\bar y\, v")
def _squared_norm_vjp(node, g, ans, functions):
    return [(node.arg, sp.MatMul(2 * g, node.arg).doit())]


@row_form.register
def _row_squared_norm(e: SquaredNorm):
    return SquaredNorm(row_form(e.arg))


@evaluate_node.register
def _evaluate_squared_norm(e: SquaredNorm, ev):
    v = ev(e.arg)
    return ev.backend.total(ev.backend.hadamard(v, v))


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


@row_form.register
def _row_time_sum(e: TimeSum):
    var, lo, hi = e.limits
    return TimeSum(row_form(e.body), var, lo, hi)


@evaluate_node.register
def _evaluate_time_sum(e: TimeSum, ev):
    """``sum_{s=lo}^{hi}`` of the body evaluated with ``t = s``."""
    var, lo, hi = e.limits
    body = e.body.xreplace({var: t})
    values = [ev.at(body, s) for s in range(ev.size(lo), ev.size(hi) + 1)]
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


def tanh(z):
    return Elementwise("tanh", z)


def sigma(z):
    return Elementwise("sigmoid", z)


def hadamard(*factors):
    """The elementwise (Hadamard) product ``a ⊙ b ⊙ ...``, with scalar factors taken out: ``(c a) ⊙ b = c (a ⊙ b)``,
    and ``(c 1) ⊙ b = c b`` for the all-ones matrix (the rule of a sum of entries gives ``c 1``)."""
    if len(factors) == 1:
        return factors[0]
    scalar, rest = sp.S.One, []
    for f in factors:
        coeff, matrices = f.as_coeff_matrices() if isinstance(f, sp.MatMul) else (sp.S.One, [f])
        scalar *= coeff
        part = sp.MatMul(*matrices).doit() if len(matrices) > 1 else matrices[0]
        rest += [] if isinstance(part, sp.OneMatrix) else [part]
    rest = rest or [ones(factors[0])]
    product = sp.HadamardProduct(*rest).doit() if len(rest) > 1 else rest[0]
    return product if scalar == 1 else sp.MatMul(scalar, product).doit()


def ones(like: MatrixExpr) -> MatrixExpr:
    """The all-ones matrix of the shape of ``like`` (the ``1`` in ``1 - h ⊙ h``)."""
    return sp.OneMatrix(*like.shape)


def time_vars(expr) -> list[TimeVar]:
    """Every TimeVar in ``expr``, in a deterministic order."""
    return sorted(expr.atoms(TimeVar), key=sp.default_sort_key)


class Concat(MatrixExpr):
    """The stacked column vector ``[a; b; ...]`` (``W [h_{t-1}; x_t]`` as many notes write a gate)."""

    def __new__(cls, *parts):
        parts = [_sympify(p) for p in parts]
        if any(p.shape[1] != 1 for p in parts):
            raise ModelError("only column vectors can be concatenated")
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


@defvjp(Concat, r"y = [a; b] \;\Rightarrow\; \bar a, \bar b = \text{the rows of } \bar y \text{ for } a, b")
def _concat_vjp(node, g, ans, functions):
    return [(part, Rows(g, start, stop)) for part, (start, stop) in zip(node.args, node.offsets())]


@evaluate_node.register
def _evaluate_concat(e: Concat, ev):
    return ev.backend.stack([ev(a) for a in e.args])


@defvjp(Rows, r"y = [v]_{i:j} \;\Rightarrow\; \bar v = \bar y \text{ in rows } i:j, 0 \text{ elsewhere}")
def _rows_vjp(node, g, ans, functions):
    arg, start, stop = node.args
    parts = ([sp.ZeroMatrix(start, 1)] * (start != 0) + [g]
             + [sp.ZeroMatrix(arg.shape[0] - stop, 1)] * (arg.shape[0] != stop))
    return [(arg, Concat(*parts) if len(parts) > 1 else g)]


@evaluate_node.register
def _evaluate_rows(e: Rows, ev):
    arg, start, stop = e.args
    return ev(arg)[ev.size(start):ev.size(stop), :]
