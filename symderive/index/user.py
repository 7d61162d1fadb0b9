"""The engine of an index-level model written by a user (an :class:`~symderive.index.program.IndexProgram`
built in Python, or read from LaTeX): its sizes sorted and named (:mod:`symderive.index.sizes`), the sizes
its checks run at, the exported module's documentation, and the torch program printed from it as the
external reference of verification (:mod:`symderive.verify.torch_index`)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import sympy as sp

from symderive.errors import ModelError
from symderive.index.engine import Cases, IndexEngine
from symderive.index.program import IndexProgram, Pointwise, SoftmaxCrossEntropy, WindowMax
from symderive.index.sizes import SizePlan, default_cases, plan_sizes
from symderive.verify.torch_index import PrintedIndexProgram


def user_index_engine(program: IndexProgram, sizes=None, derived: Mapping | None = None,
                      defaults: Mapping | None = None) -> tuple[IndexEngine, PrintedIndexProgram]:
    """The engine of ``program`` and its printed torch reference.

    ``derived`` maps size symbols to formulas (``{H_out: ...}``; a dimension written as an expression is
    derived without it), ``defaults`` option names to the exported keywords' defaults, ``sizes`` is a
    :class:`~symderive.index.engine.Cases` or ``{"symbolic": [case, ...], "numeric": [case, ...]}`` with
    each case a dict of sizes and options by symbol or by name (default: :func:`default_cases`)."""
    check_program(program)
    program = with_targets_constant(program)
    plan = plan_sizes(program, derived, defaults)
    engine = IndexEngine(
        variants=((program.name, plan.program),),
        options=plan.options,
        derived=plan.derived,
        shapes=plan.shapes,
        sizes=cases_of(sizes, plan) if sizes is not None else default_cases(plan),
        module_doc=module_doc(plan),
        symbolic_positive=any(isinstance(op, WindowMax) for op in program.ops),
    )
    return engine, PrintedIndexProgram(plan.program, plan.shapes, plan.derived, plan.options)


def check_program(program: IndexProgram) -> None:
    """What the engine assumes of a program and a user may get wrong: a scalar loss, and an elementwise
    function whose value has its argument's shape."""
    if not isinstance(program, IndexProgram):
        raise ModelError(f"an index-level model is an IndexProgram, not {type(program).__name__}")
    if program.loss.dims:
        raise ModelError(f"the loss {program.loss.name} is a scalar, not an array of shape {program.loss.dims}")
    for op in program.ops:
        if isinstance(op, Pointwise) and tuple(op.out.dims) != tuple(op.arg.dims):
            raise ModelError(f"{op.out.name} = {op.fname}({op.arg.name}) entry by entry needs the same shape, "
                             f"but {op.out.name} has {op.out.dims} and {op.arg.name} has {op.arg.dims} "
                             "(give their indices ranges of the same sizes)")


def with_targets_constant(program: IndexProgram) -> IndexProgram:
    """Only a class target (of a softmax cross-entropy) stays constant: the exported module takes it as a one-hot
    vector or a class index, the checks draw it one-hot. Any other constant (the given upstream gradient
    ``\\delta`` of an abstract loss ``L = \\ell(Y)``) is an array like the others, differentiated as the
    built-ins' ``G`` is (``dL/d\\delta = Y``) and drawn at random by the checks."""
    targets = {op.target for op in program.ops if isinstance(op, SoftmaxCrossEntropy)}
    return replace(program, constants=tuple(t for t in program.constants if t in targets))


def cases_of(sizes, plan: SizePlan) -> Cases:
    """``sizes`` as Cases, every key a symbol of the program (a name is looked up)."""
    if isinstance(sizes, Cases):
        symbolic, numeric = sizes.symbolic, sizes.numeric
    elif isinstance(sizes, Mapping) and set(sizes) <= {"symbolic", "numeric"}:
        symbolic, numeric = sizes.get("symbolic", ()), sizes.get("numeric", ())
    else:
        raise ModelError("sizes of an index model are Cases(symbolic=..., numeric=...) or "
                         "{'symbolic': [case, ...], 'numeric': [case, ...]}")
    wanted = {s.name: s for s in plan.read_off} | {s.name: s for o in plan.options for s in o.symbols}
    return Cases(tuple(case_of(c, wanted) for c in symbolic), tuple(case_of(c, wanted) for c in numeric))


def case_of(case: Mapping, wanted: dict) -> dict:
    named = {str(k): v for k, v in case.items()}
    missing = sorted(set(wanted) - set(named))
    unknown = sorted(set(named) - set(wanted))
    if missing or unknown:
        raise ModelError(f"a case of sizes gives every size and option of the model ({', '.join(sorted(wanted))})"
                         + (f"; missing: {', '.join(missing)}" if missing else "")
                         + (f"; not sizes of the model: {', '.join(unknown)}" if unknown else ""))
    return {wanted[k]: int(v) for k, v in named.items()}


def module_doc(plan: SizePlan) -> str:
    """The exported module's documentation: the arrays, the computed sizes, the keyword options."""
    arrays = ", ".join(f"{name} ({', '.join(dims)})" for name, dims in plan.shapes.items())
    lines = [f"Arrays: {arrays}."]
    if plan.derived:
        lines.append("Computed sizes: " + ", ".join(f"{d.symbol} = {sp.sstr(d.expr)}" for d in plan.derived) + ".")
    if plan.options:
        lines.append("Keyword arguments (sizes no array holds): " + ", ".join(o.keyword for o in plan.options) + ".")
    grads = ", ".join(f"dL/d{a.name}" for a in plan.program.differentiated)
    lines.append(f"loss(...) is {plan.program.loss.name}; grad(...) returns {grads}.")
    return "\n".join(lines) + "\n"
