"""A model: a program of named assignments for one generic time step, plus a scalar loss.

Non-recurrent models (a dense layer) use plain ``MatrixSymbol`` variables. Recurrent models write
their step once for a generic ``t`` with :class:`~symderive.expr.TimeVar` values: a *state* such as
``h`` is read as ``h_{t-1}`` and written as ``h_t``; the loss is ``L = sum_{t=1}^{T} loss_t``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import ModelError, ShapeMismatchError
from symderive.ops.nodes import T as T_SYMBOL
from symderive.ops.nodes import TimeVar, t
from symderive.ops.registry import shape_conflict, shape_text


@dataclass(frozen=True)
class Assign:
    """``target := expr`` (target is a MatrixSymbol, or a TimeVar at time t)."""

    target: sp.MatrixExpr
    expr: sp.MatrixExpr


@dataclass(frozen=True)
class Program:
    """The forward computation of a model.

    ``params`` are time-invariant arguments (weights, biases); ``inputs`` the data (``x_t``, ``y_t``
    for recurrent models); ``states`` maps each recurrent state name to its initial value: an argument
    (``h -> h0``) or a fixed zero matrix (``h_0 = 0``); ``loss`` is the scalar loss of one step, so that
    ``L = sum_{t=1}^{T} loss`` (a mean over steps is a loss of one step divided by ``T``), or of the
    whole model if not recurrent. A 1 x 1 value is a scalar.
    ``latex_names`` overrides how identifiers print (``{"dh": r"\\delta"}``). ``order`` names the arguments in
    the order the exported functions take them (empty: parameters, initial states, then data).
    """

    name: str
    assignments: tuple[Assign, ...]
    params: tuple[sp.MatrixSymbol, ...]
    inputs: tuple[sp.MatrixExpr, ...]
    loss: sp.Expr
    states: dict = field(default_factory=dict)
    latex_names: dict = field(default_factory=dict)
    order: tuple[str, ...] = ()

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
    """Names are unique and not reserved; every value is defined before use; states are defined once and
    read at t-1; shapes fit as written; the loss is a scalar that depends on the model."""
    check_names(p)
    check_states(p)
    known = {key(v) for v in (*p.params, *p.inputs)}
    for a in p.assignments:
        if isinstance(a.target, TimeVar) and a.target.time != t:
            raise ModelError(f"assignment target {a.target.name} must be written at time t, not {a.target.time}")
        if a.target.shape != a.expr.shape:
            raise ModelError(f"{key(a.target)} has shape {a.target.shape} but its expression has shape {a.expr.shape}")
        check_shapes(a.expr, key(a.target))
        for v in variables(a.expr):
            check_use(v, known, p.states, where=key(a.target))
        known.add(key(a.target))
    check_loss(p, known)


def check_names(p: Program) -> None:
    """Each parameter, input, initial state and assigned value has a name of its own."""
    names = [key(v) for v in (*p.params, *p.inputs, *initial_arguments(p), *(a.target for a in p.assignments))]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ModelError(f"{', '.join(twice)}: declared or defined more than once "
                         "(every value needs a name of its own)")
    reserved = [name for name in names if name.startswith("d_")]
    if reserved:
        raise ModelError(f"names starting with d_ are reserved for adjoints: {', '.join(sorted(reserved))}")
    clash = set(names) & ({str(s) for s in p.dims()} | {"T", "t", "m", "np"})
    if clash:
        raise ModelError(f"{', '.join(sorted(clash))}: a variable may not be named like a size (or T, t, m, np)")


def check_states(p: Program) -> None:
    """Every state is defined (assigned at t) and read by the next step (at t-1)."""
    defined = {key(a.target) for a in p.assignments}
    read = {v.name for a in p.assignments for v in a.expr.atoms(TimeVar) if v.offset == -1}
    for state in p.states:
        if state not in defined:
            raise ModelError(f"the state {state} is declared but never defined (define it: m.let({state}, ...))")
        if state not in read:
            raise ModelError(f"the state {state} is never read at the previous step ({state}.prev, {state}_{{t-1}}); "
                             "a value that only depends on the same step is not a state")


def check_shapes(expr, where: str) -> None:
    """Every product, sum and Hadamard product in ``expr`` has operands whose sizes fit as written."""
    for node in sp.preorder_traversal(expr):
        conflict = shape_conflict(node)
        if conflict:
            raise ShapeMismatchError(f"in {where}: {conflict}")


def check_loss(p: Program, known: set) -> None:
    if getattr(p.loss, "is_Matrix", False) and p.loss.shape != (1, 1):
        raise ModelError(f"the loss must be a scalar, not a {shape_text(p.loss.shape)} matrix "
                         "(a squared norm, a sum of entries, ...)")
    if not variables(p.loss):
        raise ModelError("the loss does not depend on the model (it is a constant)")
    check_shapes(p.loss, "the loss")
    for v in variables(p.loss):
        check_use(v, known, p.states, where="the loss")


def check_use(v, known: set, states: dict, where: str) -> None:
    """``v`` is an argument or defined already; a sequence is read at t, a state also at t-1."""
    k = v.offset if isinstance(v, TimeVar) else 0
    if isinstance(v, TimeVar) and (k not in (0, -1) or (k == -1 and v.name not in states)):
        raise ModelError(f"{where} reads {v.name} at time {v.time}: only t, and t-1 for a state, are supported")
    if key(v) not in known and not (k == -1 and v.name in states):
        raise ModelError(f"{key(v)} is used in {where} before it is defined; defined so far: "
                         f"{', '.join(sorted(known))}")


def is_fixed(initial) -> bool:
    """Is a state's initial value fixed (``h_0 = 0``) rather than an argument?"""
    return isinstance(initial, sp.ZeroMatrix)


def initial_arguments(p: Program) -> list:
    """The initial values of the states that are arguments (not fixed at zero)."""
    return [v for v in p.states.values() if not is_fixed(v)]


def arguments(p: Program) -> list:
    """The arguments of the model's functions: in ``p.order`` when it names them, else parameters, initial
    states (unless fixed), then data."""
    default = [*p.params, *initial_arguments(p), *p.inputs]
    if not p.order:
        return default
    return sorted(default, key=lambda v: p.order.index(key(v)))


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
