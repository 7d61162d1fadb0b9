"""The public functions of an exported module (``forward``, ``loss``, ``grad``, ``adjoints``) and the module's
text, around the phases :mod:`symderive.matrix.codegen` emits: ``_prepare`` reads the arrays (an optional batch
axis, :func:`_examples`) and the options' keywords; ``grad`` runs the lean backward loop."""
from __future__ import annotations

import sympy as sp

from symderive.export.scaffold import (
    ARGUMENTS,
    BATCH_AXIS,
    HELPER_MARK,
    LOSS_DOC,
    arrays_line,
    place_helpers,
    preamble,
    unpack,
)
from symderive.matrix.codegen import TRUNCATION, Emitter, backward_defs, emit_phase, forward_defs
from symderive.matrix.derive import ADJOINT_PREFIX, Backward
from symderive.matrix.numpy_printer import identifier
from symderive.matrix.steps import (
    total,
)
from symderive.model.program import Program, arguments, initial_arguments, is_fixed, key, shapes
from symderive.ops.nodes import TimeVar
from symderive.ops.rows import options_of


def module_source(program: Program, bw: Backward, doc: str) -> str:
    """The text of a standalone module implementing the program and its derived gradients."""
    args = [identifier(key(v)) for v in arguments(program)]
    body = [*preamble(doc, shapes(program), batch_kinds(program)), HELPER_MARK, ARGUMENTS.rstrip(), BATCH_AXIS.rstrip()]
    if program.recurrent:
        body.append(TRUNCATION.rstrip())
    body += [prepare_fn(args, options_of(program)), forward_fn(program, bw), public_fns(program, bw, args)]
    return place_helpers("\n".join(body) + "\n")


def batch_kinds(program: Program) -> dict:
    """The arguments that take a batch axis: the data ("steps" for sequences, else "data") and the initial
    states ("shared": one for the whole batch, or one per example)."""
    data = {key(v): "steps" if isinstance(v, TimeVar) else "data" for v in program.inputs}
    return data | {key(v): "shared" for v in initial_arguments(program)}


def prepare_fn(args, options=()) -> str:
    """``_prepare``: the arrays in the code's layout (a batch axis read off, :func:`_examples`) and their sizes,
    and each option's number computed from its keyword."""
    if not options:
        return f"\n\ndef _prepare({', '.join(args)}):\n{arrays_line(args)}\n    return _examples(arrays, False)"
    sizes = sorted({str(s) for o in options for s in o.value.free_symbols} - {o.keyword for o in options})
    return "\n".join([f"\n\ndef _prepare({signature(args, options)}):", arrays_line(args),
                      "    arrays, _sizes = _examples(arrays, False)", *filter(None, [unpack(sizes, "_sizes")]),
                      *(f"    _sizes[{o.keyword!r}] = {o.code}" for o in options), "    return arrays, _sizes"])


def signature(args, options, call: bool = False) -> str:
    """The arguments, then the options as keywords (``causal=False``; in a call ``causal=causal``); an option
    without a default (``heads``) is a required keyword, after ``*``."""
    keywords = [o.keyword if not (o.default or call) else f"{o.keyword}={o.keyword if call else o.default}"
                for o in options]
    return ", ".join([*args, *(["*"] * any(not o.default for o in options) * (not call)), *keywords])


def header(program: Program, extra=()) -> list[str]:
    names = [identifier(key(v)) for v in arguments(program)]
    dims = ["T"] * program.recurrent + [str(s) for s in program.dims()] + ["_batch"] * program.recurrent
    dims += [o.keyword for o in options_of(program) if o.keyword not in dims]
    return [line for line in (unpack(names, "_args"), unpack(dims, "_sizes"), *extra) if line]


def read_names(exprs) -> set[str]:
    """The names of the step values the expressions read (at any step)."""
    return {v.name for e in exprs for v in sp.sympify(e).atoms(TimeVar)}


def forward_fn(program: Program, bw: Backward) -> str:
    """``_forward``: every value, stacked over steps; with ``_lean``, only those read after the step that
    computes them (by the backward pass, the gradients, the loss) are stored."""
    em = Emitter(program)
    names = [identifier(key(a.target)) for a in program.assignments]
    if program.recurrent:
        initial = [f"{identifier(s)}[0] = {identifier(v.name)}" for s, v in program.states.items() if not is_fixed(v)]
        kept = read_names([term.expr for a in bw.steps for term in a.terms] + [g.value() for g in bw.grads if g.terms]
                          + [program.loss])
        emit_phase(em, forward_defs(program), backward=False, initial=initial, kept=kept)
    else:
        for a in program.assignments:
            em.emit(f"{identifier(key(a.target))} = {em.step().doprint(a.expr)}")
    ret = ", ".join(f"{n!r}: {n}" for n in names)
    lines = header(program) + em.lines + [f"    return {{{ret}}}"]
    return "\n\ndef _forward(_args, _sizes, _lean=False):\n" + "\n".join(lines)


def public_fns(program: Program, bw: Backward, args) -> str:
    sig, call = signature(args, options_of(program)), signature(args, options_of(program), call=True)
    values = [identifier(key(a.target)) for a in program.assignments]
    rows = "[1:T + 1]" if program.recurrent else ""
    doc_fwd = "Every intermediate value" + (", stacked over steps 1..T as rows" if program.recurrent else "")
    loss_code = (Emitter(program).batch().doprint(program.loss) if program.recurrent
                 else Emitter(program).step().doprint(program.loss))
    out = [f"\n\ndef forward({sig}):",
           f'    """{doc_fwd}: {", ".join(values)}."""',
           f"    _args, _sizes = _prepare({call})",
           *(["    T = _sizes['T']"] if program.recurrent else []),
           f"    return {{name: _per_example(value{rows}, _sizes, {program.recurrent}) "
           "for name, value in _forward(_args, _sizes).items()}",
           f"\n\ndef loss({sig}):",
           LOSS_DOC,
           f"    _args, _sizes = _prepare({call})",
           "    _values = _forward(_args, _sizes)",
           *header(program),
           *filter(None, [unpack(values, "_values")]),
           f"    return float(np.sum({loss_code}))",
           grad_fn(program, bw, sig, call)]
    return "\n".join(out)


TRUNCATION_DOC = [
    "",
    "    truncate=K gives truncated BPTT: truncate_mode=\"blocks\" splits steps 1..T into blocks of",
    "    K steps and no gradient crosses a block boundary; \"window\" lets the loss of step t reach",
    "    only steps t-K+1..t. None (or K >= T) is full BPTT.",
]


def grad_fn(program: Program, bw: Backward, sig: str, call: str) -> str:
    """``_backward`` (every value and step adjoint), ``grad`` and, for recurrent models, ``adjoints``."""
    em = Emitter(program)
    values = [identifier(key(a.target)) for a in program.assignments]
    adjoints = [identifier(a.adjoint.name) for a in bw.steps]
    extra = ", truncate=None, truncate_mode=\"blocks\"" if program.recurrent else ""
    call_extra = ", truncate, truncate_mode" if program.recurrent else ""
    lines = [f"\n\ndef _backward(_args, _sizes{extra}, _lean=False):",
             "    _values = _forward(_args, _sizes, _lean)",
             *header(program),
             *filter(None, [unpack(values, "_values")])]
    if program.recurrent:
        lines.append("    truncate = _truncation(truncate, truncate_mode, T)")
        emit_phase(em, backward_defs(bw), backward=True, kept=read_names(g.value() for g in bw.grads if g.terms))
    else:
        for step_def in bw.steps:
            em.emit(f"{identifier(step_def.adjoint.name)} = {total(em.step(), [term.expr for term in step_def.terms])}")
    lines += em.lines
    lines.append(f"    return {{**_values, {', '.join(f'{a!r}: {a}' for a in adjoints)}}}")
    lines += [f"\n\ndef grad({sig}{extra}):",
              '    """dL/d(argument) for every argument of SHAPES, as a dict keyed by argument name.',
              *(TRUNCATION_DOC if program.recurrent else []),
              '    """',
              f"    _args, _sizes = _prepare({call})",
              f"    _adjoints = _backward(_args, _sizes{call_extra}, _lean=True)",
              *header(program),
              unpack(values + adjoints, "_adjoints"),
              "    return {"]
    lines += [f"        {name!r}: _gradient({name!r}, {gradient_code(program, em, g)}, _sizes),"
              for name, g in ((identifier(g.var), g) for g in bw.grads)]
    lines.append("    }")
    if program.recurrent:
        names = {identifier(a.adjoint.name): key(a.adjoint)[len(ADJOINT_PREFIX):] for a in bw.steps}
        lines += [f"\n\ndef adjoints({sig}{extra}):",
                  '    """dL/dv_t for every step value v (the BPTT adjoints, e.g. delta_t = dL/dh_t), stacked over',
                  '    steps 1..T as rows, keyed by the value\'s name. Same truncation arguments as grad."""',
                  f"    _args, _sizes = _prepare({call})",
                  f"    _adjoints = _backward(_args, _sizes{call_extra})",
                  "    T = _sizes['T']",
                  "    return {" + ", ".join(f"{v!r}: _per_example(_adjoints[{a!r}][1:T + 1], _sizes, True)"
                                        for a, v in names.items()) + "}"]
    return "\n".join(lines)


def gradient_code(program: Program, em: Emitter, g) -> str:
    if not g.terms:
        return f"np.zeros_like({identifier(g.var)})"
    value = g.value()
    if g.kind == "step" and program.recurrent:
        return em.batch().doprint(value)
    return em.step(at=0).doprint(value)
