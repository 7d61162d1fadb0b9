"""The loop over time steps of an exported recurrent phase, written as a careful person writes it.

* A step value that only later values of the same step read (``z_t`` of ``h_t = tanh(z_t)``; ``dL/dh_t``
  when the gradients read only ``dL/dz_t``) is a local of the step, not a row stored for every step: the
  *lean* loop, run by ``grad``, stores only what something after the step reads. ``forward`` and
  ``adjoints`` run the full loop, which stores every value.
* A stored value is computed into its preallocated row (``np.tanh(z, out=h[t])``,
  ``np.multiply(a, b, out=...)``, ``np.add(pre, W h, out=...)``): no temporary copied into the row;
  ``f(u) ⊙ v`` is f into the row, then ``*= v``; ``a ⊙ b + rest`` is the product into the row, then ``+= rest``.
  A step local with a hoisted part is that part's row, the other terms added in place.
* Gates fed by one stacked product (``stacks``) are ordered by activation, so each run of logistic gates is
  one block; their input products of all steps are one product written into the gate rows before the loop.
* Values ``inv_k ⊙ v`` (an invariant times one shared vector) stored side by side are one broadcast product
  per step, their invariants one array; an activation the invariants share is computed once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from symderive.matrix.numpy_printer import code, identifier
from symderive.matrix.stacks import Run, broadcast_runs, input_product
from symderive.ops.nodes import TimeVar
from symderive.ops.registry import ACTIVATIONS

TRANSPOSE = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]*)\.T\b")  # a weight's transpose in a step's code
UFUNC = re.compile(r"^(np\.\w+|_sigmoid)\(\{\}\)$")  # an activation that can write into a row (``out=``)


def reads(expr, names, same_step: bool) -> set[str]:
    return {v.name for v in expr.atoms(TimeVar) if v.name in names and (v.offset == 0) == same_step}


def total(printer_, exprs) -> str:
    return " + ".join(printer_.doprint(e) for e in exprs) if exprs else "0.0"


def term_kinds(d, loop_names: set[str]) -> tuple[list, list, list]:
    """The terms of a loop value: (hoisted: read no loop value, computed for all steps before the loop;
    same: read a loop value of this step; cross: read a loop value of the neighbouring step)."""
    hoisted = [e for e, cross in d.terms if not cross and not reads(e, loop_names, True)]
    same = [e for e, cross in d.terms if not cross and reads(e, loop_names, True)]
    return hoisted, same, [e for e, cross in d.terms if cross]


def step_locals(loop, loop_names: set[str], kept: set[str]) -> set[str]:
    """The loop values that only later values of the same step read (not ``kept``: read after the loop)."""
    cross = set().union(*(reads(e, loop_names, False) for d in loop for e, _ in d.terms))
    return {d.name for d in loop} - cross - kept


def local_name(name: str) -> str:
    return f"_{identifier(name)}_t"


@dataclass(frozen=True)
class Loop:
    """The values a step loop computes (in order), their names, and their stacked products."""

    defs: list
    names: set
    stacking: object
    invariants: dict  # expression -> the name of its array over all steps, computed before the loop


def emit_loop(em, loop: Loop, steps, depth, masked, local=frozenset(), pre=None):
    """``for t in steps:`` computing every loop value; the values in ``local`` as locals of the step;
    ``pre``: value name -> the code of its hoisted part for all steps (``_pre_`` + its name, or its reader's rows)."""
    if masked:
        em.emit("carry = _carries(T, truncate, truncate_mode)", depth)
    p = em.step(local=local, spelled=loop.stacking.spelled)
    fused = fused_into(loop.defs, local)
    runs = loop_runs(loop, {*local, *fused, *fused.values()})
    for line in invariant_lines(em, loop, runs):
        em.emit(line, depth)
    body, done = step_top(loop, fused, p)
    in_run = {m: run for run in runs for m, _ in run.members}
    for d in loop.defs:
        if d.name in in_run:  # the run's one product, where its first member was
            body += [run_line(in_run[d.name], p)] if d.name == in_run[d.name].members[0][0] else []
            continue
        body += [] if d.name in done else step_lines(d, loop.names, p, masked, local, fused)
    for line in prologue(em, loop, fused, pre or {}) + blocks_views(loop, runs):
        em.emit(line, depth)
    transposes = sorted(set(TRANSPOSE.findall("\n".join(body))))
    for name in transposes:  # bound once, not looked up at every step
        em.emit(f"_{name}_T = {name}.T", depth)
    em.emit(f"for t in {steps}:", depth)
    for line in body:
        em.emit(TRANSPOSE.sub(r"_\1_T", line), depth + 1)


def loop_runs(loop: Loop, skip: set[str]) -> list[Run]:
    """The runs of values ``inv_k ⊙ v`` stored side by side (``stacks.broadcast_runs``), over the invariants
    that one value reads."""
    readers = {name: sum(1 for d in loop.defs if any(name in reads(e, {name}, True) for e, _ in d.terms))
               for name in loop.invariants.values()}
    return broadcast_runs(loop.defs, loop.stacking.storage, {n for n, k in readers.items() if k == 1}, skip)


def invariant_lines(em, loop: Loop, runs: list[Run]) -> list[str]:
    """The invariants computed for all steps; those of a run into one array, (steps, ..., members, size)."""
    place = {inv: (run, k) for run in runs for k, (_, inv) in enumerate(run.members)}
    lines = []
    for expr, name in loop.invariants.items():
        if name not in place:
            lines.append(f"{name} = {em.batch().doprint(expr)}")
            continue
        run, k = place[name]
        if k == 0:
            lines.append(f"{run.factors} = np.empty((T, *_batch, {run.count}, {code(run.size)}))")
        lines.append(f"{run.factors}[..., {k}, :] = {em.batch().doprint(expr)}")
    return lines


def blocks_views(loop: Loop, runs: list[Run]) -> list[str]:
    """Each storage group with a run, viewed as (steps, ..., blocks, size)."""
    groups = dict.fromkeys((run.group, run.size) for run in runs)
    return [f"{group}_blocks = {group}.reshape(T + 2, *_batch, {len(loop.stacking.storage[group])}, {code(size)})"
            for group, size in groups]


def run_line(run: Run, p) -> str:
    """One product per step for the run: each block its invariant times the shared vector (broadcast)."""
    return (f"np.multiply({run.factors}[t - 1], {p.doprint(run.vector)}[..., None, :], "
            f"{run.group}_blocks[t, ..., {run.first}:{run.first + run.count}, :])")


def prologue(em, loop: Loop, fused: dict, pre: dict) -> list[str]:
    """The lines before the loop: the hoisted parts (``pre``), written into their readers' rows (one product for
    a gate group whose members share an input vector: ``stacks.input_product``), the stacked weights, scaled."""
    scales = gate_scales(loop, fused)
    written, inputs = set(), []
    for name, _, members in loop.stacking.shared:
        group = loop.stacking.gates.get(name) if fused else None
        if group is None:
            continue
        parts = [(term_kinds(next(d for d in loop.defs if d.name == m), loop.names)[0], size) for m, size in members]
        found = input_product(group, parts, em.batch(), f"_scale{name}" if name in scales else "",
                              scales.get(name)) if all(terms for terms, _ in parts) else []
        written |= {m for m, _ in members} if found else set()
        inputs += found or ([f"{group}[1:T + 1] *= _scale{name}"] if name in scales else [])
    into = {source: reader for source, reader in fused.items() if source not in written and source in pre}
    lines = [f"{identifier(into[d.name])}[1:T + 1] = {pre[d.name]}" if d.name in into
             else f"_pre_{identifier(d.name)} = {pre[d.name]}"
             for d in loop.defs if d.name in pre and d.name not in written]
    lines += loop.stacking.before
    for name, _, members in loop.stacking.shared:
        if name in scales:
            row = ", ".join(f"np.full({code(size)}, {f})" for f, (_, size) in zip(scales[name], members))
            lines += [f"_scale{name} = np.concatenate([{row}])", f"_W{name} *= _scale{name}"]
    return lines + inputs


def step_lines(d, loop_names, p, masked, local, fused) -> list[str]:
    """The lines computing value ``d`` at step t: a local, into a stored row, or into its reader's row."""
    hoisted, same, cross = term_kinds(d, loop_names)
    parts = [f"_pre_{identifier(d.name)}[t - 1]"] if hoisted else []
    parts += [p.doprint(e) for e in same]
    if cross:
        parts.append(f"({total(p, cross)} if carry[t] else 0.0)" if masked else total(p, cross))
    alone = same if not hoisted and not cross else []
    first = same[0] if same and not hoisted else None
    if d.name in fused:  # computed into the row of its one reader (which holds the hoisted part already)
        row = row_name(fused[d.name])
        start = [f"{row} = {identifier(fused[d.name])}[t]"]
        if hoisted:
            return start + [f"{row} += {part}" for part in parts[1:]]
        return start + stored(d, row, parts, alone, p, first, assign="[...] = ")
    if d.name in local:
        return local_lines(local_name(d.name), parts, hoisted, masked and cross, p)
    if d.name in fused.values():
        source = next(k for k, v in fused.items() if v == d.name)
        return [update_in_place(d, row_name(d.name), source, p)]
    return stored(d, f"{identifier(d.name)}[t]", parts, alone, p, first)


def local_lines(name: str, parts: list[str], hoisted, masked_cross, p) -> list[str]:
    """A step local. Its hoisted part's row (of an array only this step reads) is the local, the other terms
    added to it in place; a cross term under ``if carry[t]:`` when masked."""
    if not hoisted or len(hoisted) == 1 and isinstance(hoisted[0], TimeVar) or len(parts) < 2:
        return [f"{name} = {' + '.join(parts) or '0.0'}"]  # (a lone value's rows are a view of its array)
    lines = [f"{name} = {parts[0]}"] + [f"{name} += {part}" for part in parts[1:len(parts) - bool(masked_cross)]]
    if masked_cross:
        lines += ["if carry[t]:", f"    {name} += {total(p, masked_cross)}"]
    return lines


def stored(d, row: str, parts: list[str], alone: list, p, first=None, assign=" = ") -> list[str]:
    """The lines computing a stored value into its preallocated ``row`` (``alone``: its one term, when it
    has only one, that is not a row of an array; ``first``: its first term, when that is not one): a product
    ``f(u) ⊙ v`` as f into the row, then times v in place; a sum whose first term is a product ``a ⊙ b`` as
    the product into the row, then the rest added in place."""
    if d.size is not None and len(alone) == 1:
        e = alone[0]
        if in_place_function(e):
            return [f"{in_place_function(e)}({p.doprint(e.arg)}, {row})"]
        if isinstance(e, sp.HadamardProduct) and len(e.args) == 2:
            inner = [a for a in e.args if in_place_function(a)]
            if len(inner) == 1:
                bound, lines = bind(row)
                other = next(a for a in e.args if a != inner[0])
                return lines + [f"{in_place_function(inner[0])}({p.doprint(inner[0].arg)}, {bound})",
                                f"{bound} *= {p.doprint(other)}"]
            return [f"np.multiply({p.doprint(e.args[0])}, {p.doprint(e.args[1])}, {row})"]
    if d.size is not None and len(parts) == 2 and isinstance(first, sp.HadamardProduct) and len(first.args) == 2:
        bound, lines = bind(row)
        return lines + [f"np.multiply({p.doprint(first.args[0])}, {p.doprint(first.args[1])}, {bound})",
                        f"{bound} += {parts[1]}"]
    if d.size is not None and len(parts) == 2:
        return [f"np.add({parts[0]}, {parts[1]}, {row})"]
    return [f"{row}{assign}{' + '.join(parts) or '0.0'}"]


def bind(row: str) -> tuple[str, list[str]]:
    """(a name of the row, the line binding it): updated in place through the name, not by indexing again."""
    if row.isidentifier():
        return row, []
    name = "_" + re.sub(r"\W", "", row.split("[")[0]) + "_row"
    return name, [f"{name} = {row}"]


def in_place_function(e) -> str:
    """The function of an activation ``f(z)`` that can write into a row (``np.tanh``), or ''."""
    match = type(e).__name__ == "Elementwise" and UFUNC.match(ACTIVATIONS[e.fname].numpy)
    return match.group(1) if match else ""


def fused_into(loop, local: set[str]) -> dict[str, str]:
    """local value -> the stored value that is its only reader, when that reader is ``f(local)`` or
    ``a ⊙ local``: the local is computed into the reader's row, which is then updated in place."""
    out = {}
    for d in loop:
        if d.size is None or len(d.terms) != 1:
            continue
        e = d.terms[0][0]
        arg = e.arg if in_place_function(e) else None
        if isinstance(e, sp.HadamardProduct) and len(e.args) == 2:
            arg = next((a for a in e.args if isinstance(a, TimeVar) and a.name in local and a.offset == 0), None)
        if isinstance(arg, TimeVar) and arg.name in local and arg.offset == 0 and d.name not in local \
                and readers(loop, arg.name) == [d.name]:
            out[arg.name] = d.name
    return out


def readers(loop, name: str) -> list[str]:
    return [d.name for d in loop if any(name in reads(e, {name}, True) for e, _ in d.terms)]


def update_in_place(d, row: str, local: str, p) -> str:
    """``row`` holds the local value read by ``d``; make it d's value: ``f(row)`` or ``a ⊙ row`` in place."""
    e = d.terms[0][0]
    if in_place_function(e):
        return f"{in_place_function(e)}({row}, {row})"
    other = next(a for a in e.args if not (isinstance(a, TimeVar) and a.name == local and a.offset == 0))
    return f"{row} *= {p.doprint(other)}"


def row_name(name: str) -> str:
    """The local holding row t of a stored value updated in place."""
    return f"_{identifier(name)}_row"


def only_product(loop, name: str, loop_names) -> bool:
    """Is the value a hoisted part plus one placeholder of a stacked product (``pre + W h_{t-1}``)?"""
    d = next(d for d in loop if d.name == name)
    hoisted, same, cross = term_kinds(d, loop_names)
    return bool(hoisted) and not same and len(cross) == 1 and isinstance(cross[0], TimeVar)


def step_top(loop: Loop, fused: dict, p) -> tuple[list[str], set[str]]:
    """The lines at the top of a step (the stacked products), and the values they already compute: with
    the gates stored side by side (``gates``), the product is added to all of them in place and each run
    of neighbours with the same activation is one call."""
    lines, done = [], set()
    for line, (name, vector, members) in zip(loop.stacking.top, loop.stacking.shared):
        group = loop.stacking.gates.get(name) if fused else None
        if group is None:
            lines.append(line)
            continue
        row = f"{group}_row"
        lines += [f"{row} = {group}[t]", f"{row} += {vector} @ _W{name}"]
        readers = [next(d for d in loop.defs if d.name == fused[m]) for m, _ in members]
        start, runs = sp.S.Zero, []
        for d, (member, size) in zip(readers, members):
            function = in_place_function(d.terms[0][0])
            if runs and runs[-1][0] == function:
                runs[-1][2] += size
            else:
                runs.append([function, start, size])
            start += size
            done |= {member, d.name}
        lines += activation_lines(row, runs)
    return lines, done


def activation_lines(row: str, runs: list) -> list[str]:
    """Each run ``[function, start, size]`` of the gates applied in place. When every function is tanh or
    the logistic function, one tanh covers the row: the logistic gates' pre-activations were halved
    (see ``gate_scales``) and sigmoid(a) = (1 + tanh(a/2)) / 2 finishes them in two in-place updates."""
    blocks = [(function, f"{row}[..., {code(begin)}:{code(begin + size)}]") for function, begin, size in runs]
    if {function for function, _ in blocks} <= {"np.tanh", "_sigmoid"}:  # a block bound once, updated twice
        return [f"np.tanh({row}, {row})"] + [line for function, block in blocks if function == "_sigmoid"
                                             for line in (f"_block = {block}", "_block += 1.0", "_block *= 0.5")]
    return [f"{function}({block}, {block})" for function, block in blocks]


def gate_scales(loop: Loop, fused: dict) -> dict:
    """product name -> the factor of each of its blocks (1/2 for a logistic gate, 1 for tanh), for the gate
    groups one tanh covers (see ``activation_lines``): their weights and pre-activations are scaled so."""
    out = {}
    for name, _, members in loop.stacking.shared:
        if loop.stacking.gates.get(name) is None or not fused:
            continue
        functions = [in_place_function(next(d for d in loop.defs if d.name == fused[m]).terms[0][0])
                     for m, _ in members]
        if set(functions) <= {"np.tanh", "_sigmoid"} and "_sigmoid" in functions:
            out[name] = [0.5 if f == "_sigmoid" else 1.0 for f in functions]
    return out
