"""The loop over time steps of an exported recurrent phase, written as a careful person writes it.

* A step value that only later values of the same step read (``z_t`` of ``h_t = tanh(z_t)``; ``dL/dh_t``
  when the gradients read only ``dL/dz_t``) is a local of the step, not a row stored for every step: the
  *lean* loop, run by ``grad``, stores only what something after the step reads. ``forward`` and
  ``adjoints`` run the full loop, which stores every value.
* A stored value is computed into its preallocated row (``np.tanh(z, out=h[t])``,
  ``np.multiply(a, b, out=...)``, ``np.add(pre, W h, out=...)``): no temporary copied into the row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from symderive.matrix.numpy_printer import code, identifier
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


def emit_loop(em, loop: Loop, steps, depth, masked, local=frozenset()):
    """``for t in steps:`` computing every loop value; the values in ``local`` as locals of the step."""
    if masked:
        em.emit("carry = _carries(T, truncate, truncate_mode)", depth)
    for expr, name in loop.invariants.items():
        em.emit(f"{name} = {em.batch().doprint(expr)}", depth)
    p = em.step(local=local, spelled=loop.stacking.spelled)
    fused = fused_into(loop.defs, local)
    body, done = step_top(loop, fused, p)
    for d in loop.defs:
        body += [] if d.name in done else step_lines(d, loop.names, p, masked, local, fused)
    for source, reader in fused.items():  # the hoisted part of a fused local, in its reader's rows
        if term_kinds(next(d for d in loop.defs if d.name == source), loop.names)[0]:
            em.emit(f"{identifier(reader)}[1:T + 1] = _pre_{identifier(source)}", depth)
    for line in loop.stacking.before + gate_scaling(loop, fused):
        em.emit(line, depth)
    transposes = sorted(set(TRANSPOSE.findall("\n".join(body))))
    for name in transposes:  # bound once, not looked up at every step
        em.emit(f"_{name}_T = {name}.T", depth)
    em.emit(f"for t in {steps}:", depth)
    for line in body:
        em.emit(TRANSPOSE.sub(r"_\1_T", line), depth + 1)


def step_lines(d, loop_names, p, masked, local, fused) -> list[str]:
    """The lines computing value ``d`` at step t: a local, into a stored row, or into its reader's row."""
    hoisted, same, cross = term_kinds(d, loop_names)
    parts = [f"_pre_{identifier(d.name)}[t - 1]"] if hoisted else []
    parts += [p.doprint(e) for e in same]
    if cross:
        parts.append(f"({total(p, cross)} if carry[t] else 0.0)" if masked else total(p, cross))
    alone = same if not hoisted and not cross else []
    if d.name in fused:  # computed into the row of its one reader (which holds the hoisted part already)
        row = row_name(fused[d.name])
        start = [f"{row} = {identifier(fused[d.name])}[t]"]
        if hoisted:
            return start + [f"{row} += {part}" for part in parts[1:]]
        return start + [stored(d, row, parts, alone, p, assign="[...] = ")]
    if d.name in local:
        return [f"{local_name(d.name)} = {' + '.join(parts) or '0.0'}"]
    if d.name in fused.values():
        source = next(k for k, v in fused.items() if v == d.name)
        return [update_in_place(d, row_name(d.name), source, p)]
    return [stored(d, f"{identifier(d.name)}[t]", parts, alone, p)]


def stored(d, row: str, parts: list[str], alone: list, p, assign=" = ") -> str:
    """The line computing a stored value into its preallocated ``row`` (``alone``: its one term, when it
    has only one, that is not a row of an array)."""
    if d.size is not None and len(alone) == 1:
        e = alone[0]
        if in_place_function(e):
            return f"{in_place_function(e)}({p.doprint(e.arg)}, {row})"
        if isinstance(e, sp.HadamardProduct) and len(e.args) == 2:
            return f"np.multiply({p.doprint(e.args[0])}, {p.doprint(e.args[1])}, {row})"
    if d.size is not None and len(parts) == 2:
        return f"np.add({parts[0]}, {parts[1]}, {row})"
    return f"{row}{assign}{' + '.join(parts) or '0.0'}"


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
    (see ``gate_scaling``) and sigmoid(a) = (1 + tanh(a/2)) / 2 finishes them in two in-place updates."""
    blocks = [(function, f"{row}[..., {code(begin)}:{code(begin + size)}]") for function, begin, size in runs]
    if {function for function, _ in blocks} <= {"np.tanh", "_sigmoid"}:
        return [f"np.tanh({row}, {row})"] + [line for function, block in blocks if function == "_sigmoid"
                                             for line in (f"{block} += 1.0", f"{block} *= 0.5")]
    return [f"{function}({block}, {block})" for function, block in blocks]


def gate_scaling(loop: Loop, fused: dict) -> list[str]:
    """Before the loop: halve the logistic gates' weights and pre-activations (see ``activation_lines``)."""
    lines = []
    for name, _, members in loop.stacking.shared:
        group = loop.stacking.gates.get(name)
        if group is None or not fused:
            continue
        functions = [in_place_function(next(d for d in loop.defs if d.name == fused[m]).terms[0][0])
                     for m, _ in members]
        if set(functions) <= {"np.tanh", "_sigmoid"} and "_sigmoid" in functions:
            scale = ", ".join(f"np.full({code(size)}, {0.5 if f == '_sigmoid' else 1.0})"
                              for f, (_, size) in zip(functions, members))
            lines += [f"_W{name} = _W{name} * np.concatenate([{scale}])",
                      f"{group}[1:T + 1] *= np.concatenate([{scale}])"]
    return lines
