"""Stacked products in a step loop: the gate matrices of an LSTM or GRU as one matrix product per step.

Two patterns, in the row form the export prints (``A v`` -> ``v @ A.T``):

* one vector times several matrices, ``A_1 h_{t-1}, ..., A_k h_{t-1}`` (the gates' recurrent products in
  the forward pass): one product ``h[t - 1] @ [A_1^T | ... | A_k^T]`` at the top of the step, each term
  a block of its columns;
* a sum of products of several vectors, ``A_1^T a_{t+1} + ... + A_k^T g_{t+1}`` (the backward pass's
  ``dL/dh_t``): the vectors are stored side by side in one array, so the sum is one product
  ``[a | ... | g][t + 1] @ [A_1; ...; A_k]``.

The weights are stacked once, before the loop. A replaced term becomes a placeholder step value whose
spelling (``spelled``) the step printer uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.matrix.numpy_printer import code, identifier
from symderive.ops.nodes import TimeVar, t


@dataclass
class Stacking:
    """What the loop needs: ``spelled`` placeholder name -> code; ``before`` lines (the stacked weights);
    ``top`` lines run at the top of every step; ``storage`` group name -> [(value name, size)];
    ``shared``: per product of one vector, (its name, the vector's code, [(value name, size)] of the values
    whose terms it computes); ``gates``: product name -> storage group of the values it feeds in place."""

    spelled: dict = field(default_factory=dict)
    before: list = field(default_factory=list)
    top: list = field(default_factory=list)
    storage: dict = field(default_factory=dict)
    shared: list = field(default_factory=list)
    gates: dict = field(default_factory=dict)


def product(e):
    """``(A, v)`` when ``e`` is a weight (or its transpose) times a step vector, else None."""
    if isinstance(e, sp.MatMul) and len(e.args) == 2 and isinstance(e.args[1], TimeVar) and e.args[1].shape[1] == 1:
        a = e.args[0]
        if isinstance(a, sp.MatrixSymbol) or isinstance(a, sp.Transpose) and isinstance(a.arg, sp.MatrixSymbol):
            return a, e.args[1]
    return None


def right_matrix(a) -> str:
    """R with ``A v`` = ``v @ R`` in row form."""
    return identifier(a.arg.name) if isinstance(a, sp.Transpose) else f"{identifier(a.name)}.T"


def stack_products(loop, step_printer, stored: set[str], order=None):
    """(the loop's defs with stacked products replaced by placeholders, the Stacking); ``order``: a sort key
    of the values, the order of their blocks in a product of one vector (by default the loop's)."""
    out = Stacking()
    loop = shared_vector(loop, step_printer, out, order or (lambda name: 0))
    return sum_of_vectors(loop, step_printer, stored, out), out


def shared_vector(loop, p, out: Stacking, order):
    """One product per step for the cross terms that multiply the same vector by different weights."""
    groups: dict = {}
    for d in loop:
        for e, cross in d.terms:
            found = product(e)
            if cross and found:
                groups.setdefault(found[1], []).append((e, d.name))
    replace = {}
    for vector, terms in groups.items():
        if len(terms) < 2:
            continue
        terms = sorted(terms, key=lambda term: order(term[1]))  # stable: the loop's order among equals
        n = len(out.before)
        name, start = f"_stk{n}", sp.S.Zero
        out.before.append(f"_W{name} = np.concatenate([{', '.join(right_matrix(product(e)[0]) for e, _ in terms)}], "
                          "axis=1)")
        out.top.append(f"{name} = {p.doprint(vector)} @ _W{name}")
        out.shared.append((name, p.doprint(vector), [(d_name, e.shape[0]) for e, d_name in terms]))
        for k, (e, _) in enumerate(terms):
            placeholder = TimeVar(f"{name}_{k}", t, *e.shape)
            out.spelled[placeholder.name] = f"{name}[..., {code(start)}:{code(start + e.shape[0])}]"
            start += e.shape[0]
            replace[e] = placeholder
    return [type(d)(d.name, d.size, tuple((replace.get(e, e), c) for e, c in d.terms)) for d in loop]


def sum_of_vectors(loop, p, stored: set[str], out: Stacking):
    """One product for a value's cross terms ``sum_k A_k v_k`` over stored vectors of one step offset."""
    taken: set[str] = set()
    new = []
    for d in loop:
        terms = [(e, product(e)) for e, cross in d.terms if cross]
        group = [(e, a, v) for e, found in terms if found for a, v in [found]
                 if v.name in stored and v.name not in taken]
        offsets = {v.offset for _, _, v in group}
        if len(group) < 2 or len(offsets) != 1 or len({v.name for _, _, v in group}) < len(group):
            new.append(d)
            continue
        n = len(out.storage)
        name = f"_stack{n}"
        out.storage[name] = [(v.name, v.shape[0]) for _, _, v in group]
        taken |= {v.name for _, _, v in group}
        out.before.append(f"_W{name} = np.concatenate([{', '.join(right_matrix(a) for _, a, _ in group)}], axis=0)")
        row = p.doprint(TimeVar(group[0][2].name, group[0][2].time, *group[0][2].shape)).replace(
            identifier(group[0][2].name), name, 1)
        placeholder = TimeVar(f"{name}_sum", t, *group[0][0].shape)
        out.spelled[placeholder.name] = f"({row} @ _W{name})"
        merged = {e for e, _, _ in group}
        new.append(type(d)(d.name, d.size, tuple((e, c) for e, c in d.terms if e not in merged)
                           + ((placeholder, True),)))
    return new


def storage_lines(stacking: Stacking, allocation) -> dict[str, list[str]]:
    """group name -> the lines allocating the group's array and making every member a view of its block."""
    lines: dict = {}
    for name, members in stacking.storage.items():
        total = sum((size for _, size in members), sp.S.Zero)
        lines[name] = [f"{name} = {allocation(total)}"]
        start = sp.S.Zero
        for member, size in members:
            lines[name].append(f"{identifier(member)} = {name}[..., {code(start)}:{code(start + size)}]")
            start += size
    return lines


def gate_storage(stacking: Stacking, feeds: dict, only_product) -> None:
    """Store side by side the values a product of one vector feeds, when each value is ``f(pre + its block)``
    computed in place (``feeds``: a local -> the value it is computed into; ``only_product(local)``: its
    terms are a hoisted part and its block): then one in-place update adds the product to all of them."""
    for name, _, members in stacking.shared:
        if len({n for n, _ in members}) == len(members) and all(n in feeds and only_product(n) for n, _ in members):
            group = f"_gates{len(stacking.gates)}"
            stacking.storage[group] = [(feeds[n], size) for n, size in members]
            stacking.gates[name] = group


def input_product(group: str, members: list, batch_printer, scale: str = "", factors=None) -> list[str]:
    """Lines writing the parts of a gate group's values that need no recurrence (``members``: [(terms, size)],
    in the group's order) straight into the group's rows, when every member's terms hold one product of the
    same step vector (``W_k x_t``): one product over all steps, ``x @ [W_1^T | ... | W_k^T]``, then the other
    terms (the biases) added, as one row when they are biases; [] when there is no such vector. ``scale``:
    the code of a row of factors of the blocks (``factors``, one per member) applied to all of it."""
    found = [[product(e) for e in terms] for terms, _ in members]
    vector = next((v for p in found[0] if p for v in [p[1]]
                   if all(sum(1 for q in ps if q and q[1] == v) == 1 for ps in found)), None)
    if vector is None:
        return []
    weights = [next(q[0] for q in ps if q and q[1] == vector) for ps in found]
    rests = [[e for e, q in zip(terms, ps) if not (q and q[1] == vector)] for (terms, _), ps in zip(members, found)]
    scaled = f" * {scale}" if scale else ""
    lines = [f"_W{group}_in = np.concatenate([{', '.join(map(right_matrix, weights))}], axis=1){scaled}",
             f"{group}[1:T + 1] = _mm({batch_printer.doprint(vector)}, _W{group}_in)"]
    if any(rests) and all(is_bias(e) for rest in rests for e in rest):
        row = ", ".join(" + ".join(map(batch_printer.doprint, rest)) or f"np.zeros({code(size)})"
                        for rest, (_, size) in zip(rests, members))
        return lines + [f"{group}[1:T + 1] += np.concatenate([{row}]){scaled}"]
    start = sp.S.Zero
    for rest, (_, size), factor in zip(rests, members, factors or [1.0] * len(members)):
        if rest:
            value = " + ".join(map(batch_printer.doprint, rest))
            lines.append(f"{group}[1:T + 1, ..., {code(start)}:{code(start + size)}] += "
                         + (f"({value}) * {factor}" if factor != 1.0 else value))
        start += size
    return lines


def is_bias(e) -> bool:
    """A vector of the weights alone (``b``), stored as one row of its own size."""
    return isinstance(e, sp.MatrixSymbol) and e.shape[1] == 1 and e.shape[0] != 1


@dataclass(frozen=True)
class Run:
    """Neighbouring blocks ``first..first + len(members) - 1`` of a storage group of equal blocks (``size`` each),
    every member ``inv_k ⊙ v`` with the same step vector ``v`` and its own invariant ``inv_k`` (``members``:
    [(value name, invariant name)]): stored side by side, the invariants make one product per step."""

    group: str
    first: int
    count: int
    size: sp.Expr
    members: tuple
    vector: sp.Basic

    @property
    def factors(self) -> str:
        return f"{self.group}_factors{self.first}"


def broadcast_runs(defs, storage: dict, invariants: set[str], skip: set[str]) -> list[Run]:
    """The runs (at least two members) of the storage groups whose blocks have one size; ``invariants``: the
    names of the loop's invariants read by one value only; ``skip``: values not computed into their own rows."""
    by_name, runs = {d.name: d for d in defs}, []
    for group, members in storage.items():
        if len({size for _, size in members}) != 1:
            continue
        current: list = []
        for j, (member, size) in enumerate([*members, (None, None)]):
            split = invariant_factor(by_name.get(member), invariants) if member not in skip else None
            if current and (split is None or split[1] != current[-1][2]):
                if len(current) > 1:
                    runs.append(Run(group, current[0][0], len(current), size or members[0][1],
                                    tuple((m, inv) for _, m, _, inv in current), current[0][2]))
                current = []
            if split:
                current.append((j, member, split[1], split[0]))
    return runs


def invariant_factor(d, invariants: set[str]):
    """``(invariant name, v)`` when ``d`` is ``inv ⊙ v`` for one of the ``invariants``, else None."""
    if d is None or len(d.terms) != 1 or d.terms[0][1] or d.size is None:
        return None
    e = d.terms[0][0]
    if not isinstance(e, sp.HadamardProduct) or len(e.args) != 2:
        return None
    inv = [a for a in e.args if isinstance(a, TimeVar) and a.name in invariants and a.offset == 0]
    return (inv[0].name, next(a for a in e.args if a != inv[0])) if len(inv) == 1 else None
