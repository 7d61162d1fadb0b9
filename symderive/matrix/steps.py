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

import sympy as sp

from symderive.matrix.numpy_printer import identifier
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


def emit_loop(em, loop, loop_names, steps, depth, masked, local=frozenset()):
    """``for t in steps:`` computing every loop value; the values in ``local`` as locals of the step."""
    if masked:
        em.emit("carry = _carries(T, truncate, truncate_mode)", depth)
    p = em.step(local=local)
    fused = fused_into(loop, local)
    body = []
    for d in loop:
        body += step_lines(d, loop_names, p, masked, local, fused)
    for source, reader in fused.items():  # the hoisted part of a fused local, in its reader's rows
        if term_kinds(next(d for d in loop if d.name == source), loop_names)[0]:
            em.emit(f"{identifier(reader)}[1:T + 1] = _pre_{identifier(source)}", depth)
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
