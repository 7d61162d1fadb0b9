"""A model: a program of named assignments for one generic time step, plus a scalar loss.

Non-recurrent models (a dense layer) use plain ``MatrixSymbol`` variables. Recurrent models write
their step once for a generic ``t`` with :class:`~symderive.expr.TimeVar` values: a *state* such as
``h`` is read as ``h_{t-1}`` and written as ``h_t``; the loss is ``L = sum_{t=1}^{T} loss_t``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import ModelError
from symderive.ops.nodes import T as T_SYMBOL
from symderive.ops.nodes import TimeVar, t


@dataclass(frozen=True)
class Assign:
    """``target := expr`` (target is a MatrixSymbol, or a TimeVar at time t)."""

    target: sp.MatrixExpr
    expr: sp.MatrixExpr


@dataclass(frozen=True)
class Program:
    """The forward computation of a model.

    ``params`` are time-invariant arguments (weights, biases); ``inputs`` the data (``x_t``, ``y_t``
    for recurrent models); ``states`` maps each recurrent state name to its initial-value symbol
    (``h -> h_0``); ``loss`` is the scalar loss of one step (or of the whole model if not recurrent).
    ``latex_names`` overrides how identifiers print (``{"dh": r"\\delta"}``).
    """

    name: str
    assignments: tuple[Assign, ...]
    params: tuple[sp.MatrixSymbol, ...]
    inputs: tuple[sp.MatrixExpr, ...]
    loss: sp.Expr
    states: dict = field(default_factory=dict)
    latex_names: dict = field(default_factory=dict)

    def __post_init__(self):
        check_program(self)

    @property
    def recurrent(self) -> bool:
        return bool(self.states)

    @property
    def defined(self) -> dict[str, Assign]:
        return {key(a.target): a for a in self.assignments}

    def dims(self) -> list[sp.Symbol]:
        """The size symbols of the program, sorted by name."""
        syms = set()
        for m in (*self.params, *self.inputs, *(a.target for a in self.assignments)):
            for s in m.shape:
                syms |= s.free_symbols
        return sorted(syms - {t}, key=lambda s: s.name)


def key(v) -> str:
    """The identifier of a variable (``h`` for every ``h_{t+k}``)."""
    return v.name if isinstance(v, (TimeVar, sp.MatrixSymbol)) else str(v)


def variables(expr) -> list:
    """The leaves of an expression that are model variables (MatrixSymbols and TimeVars)."""
    leaves = expr.atoms(sp.MatrixSymbol) | expr.atoms(TimeVar)
    return sorted(leaves, key=sp.default_sort_key)


def check_program(p: Program) -> None:
    """Every variable used is defined before use or is an argument; states are read only at t-1."""
    known = {key(v) for v in (*p.params, *p.inputs)} | set(p.states)
    names = known | {key(a.target) for a in p.assignments}
    reserved = [name for name in names if name.startswith("d_")]
    if reserved:
        raise ModelError(f"names starting with d_ are reserved for adjoints: {', '.join(sorted(reserved))}")
    clash = names & ({str(s) for s in p.dims()} | {"T", "t", "m", "np"})
    if clash:
        raise ModelError(f"{', '.join(sorted(clash))}: a variable may not be named like a size (or T, t, m, np)")
    for a in p.assignments:
        if isinstance(a.target, TimeVar) and a.target.time != t:
            raise ModelError(f"assignment target {a.target.name} must be written at time t, not {a.target.time}")
        if a.target.shape != a.expr.shape:
            raise ModelError(f"{key(a.target)} has shape {a.target.shape} but its expression has shape {a.expr.shape}")
        for v in variables(a.expr):
            check_use(v, known, p.states, where=key(a.target))
        known.add(key(a.target))
    for v in variables(p.loss):
        check_use(v, known, p.states, where="the loss")


def check_use(v, known: set, states: dict, where: str) -> None:
    if key(v) not in known:
        raise ModelError(f"{key(v)} is used in {where} before it is defined; defined so far: "
                         f"{', '.join(sorted(known))}")
    if isinstance(v, TimeVar):
        k = v.offset
        if k not in (0, -1) or (k == -1 and v.name not in states):
            raise ModelError(f"{where} reads {v.name} at time {v.time}: only t, and t-1 for a state, are supported")


def arguments(p: Program) -> list:
    """The arguments of the model's functions: parameters, initial states, then data."""
    return [*p.params, *p.states.values(), *p.inputs]


def size_names(v) -> tuple[str, ...]:
    """The shape of an argument's array: ``("n", "d")`` for a matrix, ``("n",)`` for a vector,
    ``("T", "d")`` for a sequence of vectors (stacked as rows)."""
    dims = tuple(str(s) for s in v.shape if s != 1)
    return ("T", *dims) if isinstance(v, TimeVar) else dims


def shapes(p: Program) -> dict[str, tuple[str, ...]]:
    return {key(v): size_names(v) for v in arguments(p)}


def numeric_shape(v, sizes: dict) -> tuple[int, ...]:
    """The array shape of argument ``v`` (as ``shapes`` lays it out) at integer sizes."""
    dims = tuple(int(sp.sympify(s).xreplace(sizes)) for s in v.shape if s != 1)
    return (int(sizes[T_SYMBOL]), *dims) if isinstance(v, TimeVar) else dims
