"""Generate a standalone NumPy module (``SHAPES``, ``forward``, ``loss``, ``grad``) from a derivation.

A recurrent phase (the forward pass, or the adjoint recurrence) is split into three parts:
values that need no recurrence are computed for all steps at once *before* the loop; the loop
computes only the values on the recurrence cycle (``z_t, h_t`` forward; ``delta_t, zbar_t``
backward), with every term that does not read the cycle hoisted out of it; what only reads the
cycle's results is computed for all steps *after* the loop. Parameter gradients
``sum_t a_t b_t^T`` become one matrix product over all steps.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import sympy as sp

from symderive.matrix.derive import Backward
from symderive.matrix.numpy_printer import code, identifier, printer, slice_index, step_index
from symderive.matrix.stacks import gate_storage, stack_products, storage_lines
from symderive.matrix.steps import (
    Loop,
    emit_loop,
    fused_into,
    in_place_function,
    local_name,
    only_product,
    reads,
    step_locals,
    term_kinds,
    total,
)
from symderive.model.program import Program, key
from symderive.ops.nodes import Elementwise, T, TimeVar, t

M = sp.Symbol("m", integer=True)  # the lag of the window-truncated backward pass


@dataclass(frozen=True)
class Def:
    """``name_t = sum(terms)``; each term is ``(expr, cross)``: cross terms read another step."""

    name: str
    size: sp.Expr | None  # None: a scalar
    terms: tuple[tuple[sp.Basic, bool], ...]


def forward_defs(program: Program) -> list[Def]:
    out = []
    for a in program.assignments:
        terms = a.expr.args if isinstance(a.expr, sp.MatAdd) else (a.expr,)
        out.append(Def(key(a.target), stored_size(a.target),
                       tuple((term, any(v.offset != 0 for v in term.atoms(TimeVar))) for term in terms)))
    return out


def backward_defs(bw: Backward) -> list[Def]:
    return [Def(a.adjoint.name, stored_size(a.adjoint),
                factored(tuple((term.expr, term.shift == 1) for term in a.terms))) for a in bw.steps]


def factored(terms: tuple) -> tuple:
    """Terms ``± a ⊙ v ± b ⊙ v`` of one step sharing a value v (``δ ⊙ h_{t-1} - δ ⊙ n``) as one term
    ``v ⊙ (± a ± b)``: one product per step, and the sum, if it needs no recurrence, computed for all
    steps before the loop (``hoist_invariants``)."""
    parts = [signed_factors(e) for e, cross in terms if not cross]
    if len(terms) < 2 or len(parts) < len(terms) or None in parts:
        return terms
    common = [f for f in parts[0][1] if isinstance(f, TimeVar) and all(f in factors for _, factors in parts[1:])]
    if not common:
        return terms
    rests = []
    for sign, factors in parts:
        rest = list(factors)
        rest.remove(common[0])
        one = rest[0] if len(rest) == 1 else sp.HadamardProduct(*rest)
        rests.append(one if sign > 0 else -one)
    return ((sp.HadamardProduct(common[0], sp.MatAdd(*rests)), False),)


def signed_factors(e) -> tuple[int, list] | None:
    """``(1, [a, b])`` for ``a ⊙ b``, ``(-1, [a, b])`` for ``-(a ⊙ b)``, else None."""
    if isinstance(e, sp.HadamardProduct):
        return 1, list(e.args)
    if isinstance(e, sp.MatMul) and len(e.args) == 2 and e.args[0] == -1 and isinstance(e.args[1], sp.HadamardProduct):
        return -1, list(e.args[1].args)
    return None


def stored_size(v):
    """The length of one step's row: the vector's size, or None for a scalar (one number per step)."""
    rows, cols = v.shape
    return None if rows == 1 and cols == 1 else (cols if rows == 1 else rows)


def allocation(d: Def) -> str:
    """Rows 0..T+1 of a value, each the value of every example of the batch (a row of _B numbers for a scalar)."""
    return "np.zeros((T + 2, *_batch))" if d.size is None else f"np.zeros((T + 2, *_batch, {code(d.size)}))"


def split(defs: list[Def]) -> tuple[list[Def], list[Def], list[Def]]:
    """(before the loop, in the loop, after the loop), each in computation order."""
    names = {d.name for d in defs}
    cross_read = set().union(*(reads(e, names, False) for d in defs for e, _ in d.terms))
    seq: set[str] = set()
    for d in defs:  # defs are in computation order, so one pass finds every dependent value
        if any(cross or reads(e, seq, True) for e, cross in d.terms):
            seq.add(d.name)
    by_name, loop, stack = {d.name: d for d in defs}, set(), list(cross_read)
    while stack:
        v = stack.pop()
        if v in seq and v not in loop:
            loop.add(v)
            stack.extend(n for e, _ in by_name[v].terms for n in reads(e, names, True))
    return ([d for d in defs if d.name not in seq], [d for d in defs if d.name in loop],
            [d for d in defs if d.name in seq - loop])


class Emitter:
    """Writes the lines of one function body."""

    def __init__(self, program: Program):
        self.lines: list[str] = []
        self.inputs = {key(v) for v in program.inputs}
        self.weights = frozenset(key(v) for v in program.params)

    def base(self, name: str) -> int:
        """Row of step 1 minus 1: data arrays start at step 1, padded arrays at step 0."""
        return 1 if name in self.inputs or name.startswith(("_pre_", "_inv")) else 0

    def emit(self, line: str, depth: int = 1):
        self.lines.append("    " * depth + line)

    def batch(self, lo=1, hi=T):
        return printer(slice_index(self.base, lo, hi), self.base, batched=True, examples=True, weights=self.weights)

    def step(self, at=t, local=frozenset(), spelled=None):
        """The printer of one step; a value in ``local`` is the step's local (see ``steps.emit_loop``), a
        placeholder in ``spelled`` is spelled so (see ``stacks``)."""
        index, spelled = step_index(self.base, at), spelled or {}

        def spell(v):
            if v.name in spelled:
                return spelled[v.name]
            return local_name(v.name) if v.name in local and v.offset == 0 else index(v)

        return printer(spell, self.base, examples=True, weights=self.weights)


def emit_phase(em: Emitter, defs: list[Def], backward: bool, initial=(), kept=frozenset()):
    """Allocation, before-loop, loop and after-loop code of one recurrent phase; ``kept``: the values read
    after the phase (by the gradients, the loss, the backward pass), which the lean loop stores too."""
    before, loop, after = split(defs)
    loop_names = {d.name for d in loop}
    after_reads = {n for d in after for e, _ in d.terms for n in reads(e, loop_names, True)}
    local = step_locals(hoist_invariants(loop, loop_names, data=em.inputs)[0], loop_names, set(kept) | after_reads)
    full = loop_plan(em, loop, loop_names, local, "_inv", gates=False)
    lean = loop_plan(em, inline_products(loop, local), loop_names, local, "_invl") if local else full
    if any(lean.stacking.storage.get(k) != v for k, v in full.stacking.storage.items()):
        lean = loop_plan(em, loop, loop_names, local, "_invl")  # without inlining: the same stacks as full
    allocate(em, defs, lean.stacking)
    for line in initial:
        em.emit(line)
    for d in before:
        em.emit(f"{identifier(d.name)}[1:T + 1] = {total(em.batch(), [e for e, _ in d.terms])}")
    pre = {d.name: every_step(d, total(em.batch(), hoisted), hoisted)
           for d in loop for hoisted in [term_kinds(d, loop_names)[0]] if hoisted}
    if backward:
        em.emit('if truncate_mode == "window" and truncate < T:')
        window, invariants = hoist_invariants(loop, loop_names, data=em.inputs)
        for line in [*(f"_pre_{identifier(name)} = {value}" for name, value in pre.items()),
                     *(f"{name} = {em.batch().doprint(expr)}" for expr, name in invariants.items())]:
            em.emit(line, 2)
        emit_window(em, window, loop_names)
        em.emit("else:")
        lean_or_full(em, lean, full, "range(T, 0, -1)", 2, True, local, pre)
    else:
        lean_or_full(em, lean, full, "range(1, T + 1)", 1, False, local, pre)
    for d in after:
        em.emit(f"{identifier(d.name)}[1:T + 1] = {total(em.batch(), [e for e, _ in d.terms])}")


def loop_plan(em: Emitter, loop: list[Def], loop_names: set[str], local, prefix: str, gates=True) -> Loop:
    """The loop's values with invariants hoisted (named ``prefix`` + a number) and products stacked (the
    values not ``local`` to a step can be stored side by side); ``gates``: the lean loop's gates too."""
    hoisted, invariants = hoist_invariants(loop, loop_names, prefix, em.inputs)
    order = activation_order(hoisted, local) if local and gates else None
    stacked, stacking = stack_products(hoisted, em.step(), loop_names - set(local), order)
    if local and gates:
        gate_storage(stacking, fused_into(stacked, local), lambda name: only_product(stacked, name, loop_names))
    return Loop(stacked, loop_names, stacking, invariants)


def activation_order(loop: list[Def], local) -> Callable[[str], int]:
    """A sort key of the locals computed into their readers' rows: the values with the same activation
    (in order of first use) side by side, so that one in-place update finishes each run of them."""
    fused = fused_into(loop, local)
    function = {source: in_place_function(next(d for d in loop if d.name == reader).terms[0][0])
                for source, reader in fused.items()}
    first = list(dict.fromkeys(function.values()))
    return lambda name: first.index(function[name]) if name in function else len(first)


def inline_products(loop: list[Def], local) -> list[Def]:
    """The loop with each step local that is a Hadamard product read by one Hadamard product put into it
    (``a ⊙ (b ⊙ c)``, one product whose invariant factors ``hoist_invariants`` then groups)."""
    out = list(loop)
    for d in loop:
        product = d.terms[0][0] if len(d.terms) == 1 and not d.terms[0][1] else None
        if d.name not in local or not isinstance(product, sp.HadamardProduct):
            continue
        users = [r for r in out if any(d.name in reads(e, {d.name}, True) | reads(e, {d.name}, False)
                                       for e, _ in r.terms)]
        if len(users) != 1 or len(users[0].terms) != 1 or users[0].terms[0][1]:
            continue
        user, (e, _) = users[0], users[0].terms[0]
        value = TimeVar(d.name, t, *d.terms[0][0].shape)
        if not isinstance(e, sp.HadamardProduct) or value not in e.args:
            continue
        merged = sp.HadamardProduct(*[a for a in e.args if a != value], *d.terms[0][0].args)
        out = [Def(r.name, r.size, ((merged, False),)) if r is user else r for r in out if r is not d]
    return out


def allocate(em: Emitter, defs: list[Def], stacking):
    """Rows 0..T+1 of every value; the values stored side by side (see ``stacks``) as views of one array."""
    groups = storage_lines(stacking, lambda size: allocation(Def("", size, ())))
    member = {name: group for group, members in stacking.storage.items() for name, _ in members}
    for d in defs:
        if d.name not in member:
            em.emit(f"{identifier(d.name)} = {allocation(d)}")
        elif member[d.name] in groups:  # the group's first member in the order of computation
            for line in groups.pop(member[d.name]):
                em.emit(line)


def lean_or_full(em, lean: Loop, full: Loop, steps, depth, masked, local, pre):
    """The loop; with step locals, a lean loop (``_lean``: for ``grad``) and the full one."""
    if not local:
        emit_loop(em, full, steps, depth, masked, pre=pre)
        return
    em.emit("if _lean:", depth)
    emit_loop(em, lean, steps, depth + 1, masked, local, pre)
    em.emit("else:", depth)
    emit_loop(em, full, steps, depth + 1, masked, pre=pre)


def every_step(d: Def, code_: str, terms) -> str:
    """``code_`` of terms computed for all steps; terms that read no step (``dL/dL = 1``) are repeated."""
    if any(e.atoms(TimeVar) for e in terms):
        return code_
    return f"np.full({'(T, *_batch)' if d.size is None else f'(T, *_batch, {code(d.size)})'}, {code_})"


def hoist_invariants(loop: list[Def], loop_names: set[str], prefix="_inv", data=frozenset()) -> tuple[list[Def], dict]:
    """Per-step subexpressions inside the loop that need no recurrence (``1 - h_t ⊙ h_t``) become
    arrays computed for all steps at once before it (named ``prefix`` + a number); the loop reads their rows."""
    found: dict = {}

    def hoisted(e):
        return TimeVar(found.setdefault(e, f"{prefix}{len(found)}"), t, *e.shape)

    def walk(e):
        if is_invariant(e, loop_names, data):
            return hoisted(e)
        if isinstance(e, sp.HadamardProduct):  # group the invariant factors: one product for all steps
            fixed = [a for a in e.args if is_invariant(a, loop_names, data) or is_current_value(a, loop_names)]
            if len(fixed) >= 2:
                rest = [walk(a) for a in e.args if a not in fixed]
                return sp.HadamardProduct(hoisted(sp.HadamardProduct(*fixed)), *rest)
        if isinstance(e, sp.MatrixExpr) and e.args and not isinstance(e, (TimeVar, sp.MatrixSymbol)):
            return e.func(*(walk(a) for a in e.args))
        return e

    names = loop_names
    new = [Def(d.name, d.size, tuple((walk(e) if reads(e, names, True) | reads(e, names, False) else e, c)
                                     for e, c in d.terms)) for d in loop]
    return new, shared_activations(found, prefix)


def shared_activations(found: dict, prefix: str) -> dict:
    """The invariants (expression -> name, in order) with each activation ``f(v)`` that they compute more than
    once (``tanh(c_t)`` in ``1 - tanh^2(c_t)`` and in ``o_t ⊙ tanh(c_t)``) computed once, first, and read."""
    counts = Counter(e for expr in found for e in sp.preorder_traversal(expr) if isinstance(e, Elementwise))
    shared = [e for e, n in counts.items() if n > 1]
    names = {e: TimeVar(found.get(e, f"{prefix}{len(found) + k}"), t, *e.shape) for k, e in enumerate(shared)}
    out = {e: names[e].name for e in shared}
    out.update({expr.xreplace(names): name for expr, name in found.items() if expr not in out})
    return out


def is_current_value(e, loop_names) -> bool:
    """A value computed outside the loop (``o_t`` or ``c_{t-1}`` in the backward pass): its rows of all steps
    can be read at once."""
    return isinstance(e, TimeVar) and e.name not in loop_names


def is_invariant(e, loop_names, data=frozenset()) -> bool:
    """A column vector that reads no loop value (and is more than one value): values of this step, or of a
    neighbouring one computed before the loop (``W h_{t-1} + b`` in a backward pass, read for all steps from
    its rows 0..T+1; the ``data`` have rows for steps 1..T only, so only their own step's)."""
    if not isinstance(e, sp.MatrixExpr) or isinstance(e, (TimeVar, sp.MatrixSymbol)) or e.shape[1] != 1:
        return False
    values = e.atoms(TimeVar)
    return bool(values) and all(v.name not in loop_names and (v.offset == 0 or v.name not in data) for v in values)


def zero_rows(d: Def, steps: str) -> str:
    """Zeros for ``steps`` steps of a value (at lag m, the value of T - m steps)."""
    return f"np.zeros(({steps}, *_batch))" if d.size is None else f"np.zeros(({steps}, *_batch, {code(d.size)}))"


def emit_window(em, loop, loop_names):
    """Window truncation: lag m = 0..K-1 of every loss step at once (origin s + m for step s). A term from the
    next step that reads no loop value is the next step's loss itself (a fused log-softmax), so it enters at
    lag 1 only; the other terms from the next step carry lag m - 1 to lag m."""
    em.emit("for m in range(truncate):", 2)

    def index(v: TimeVar) -> str:
        if v.name in loop_names:
            return f"cur_{identifier(v.name)}" if v.offset == 0 else f"prev_{identifier(v.name)}[1:]"
        return slice_index(em.base, 1, T - M)(v)

    p = printer(index, em.base, batched=True, weights=em.weights)
    for d in loop:
        hoisted, same, cross = term_kinds(d, loop_names)
        carried = [e for e in cross if reads(e, loop_names, False) | reads(e, loop_names, True)]
        sources = [e for e in cross if e not in carried]
        seed = f"_pre_{identifier(d.name)}" if hoisted else "0.0" if same else zero_rows(d, "T")
        later = total(p, carried) if carried else zero_rows(d, "T - m")
        later += f" + ({total(p, sources)} if m == 1 else 0.0)" if sources else ""
        parts = [f"({seed} if m == 0 else {later})"] if hoisted or cross else []
        parts += [p.doprint(e) for e in same]
        em.emit(f"cur_{identifier(d.name)} = {' + '.join(parts)}", 3)
    for d in loop:
        em.emit(f"{identifier(d.name)}[1:T - m + 1] += cur_{identifier(d.name)}", 3)
    em.emit(", ".join(f"prev_{identifier(d.name)}" for d in loop) + " = "
            + ", ".join(f"cur_{identifier(d.name)}" for d in loop), 3)


# ---------------------------------------------------------------------------------------------
# The module.

TRUNCATION = '''

def _truncation(truncate, truncate_mode, T):
    """The truncation length K (T for full BPTT), after checking the arguments."""
    if truncate_mode not in ("blocks", "window"):
        raise ValueError(f"truncate_mode must be 'blocks' or 'window', not {truncate_mode!r}")
    if truncate is None:
        return T
    if isinstance(truncate, bool) or not isinstance(truncate, (int, np.integer)) or truncate < 1:
        raise ValueError(f"truncate must be a positive integer or None, not {truncate!r}")
    return min(int(truncate), T)


def _carries(T, truncate, truncate_mode):
    """carry[t]: does the adjoint of step t+1 flow into step t? (No gradient crosses a block boundary.)"""
    t = np.arange(T + 2)
    return ((t < T) & ((t % truncate != 0) | (truncate_mode == "window"))).tolist()
'''
