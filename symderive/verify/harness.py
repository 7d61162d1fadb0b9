"""Three independent checks of every derived gradient, one harness for both levels.

1. *Symbolic at a small size*: the model is instantiated with explicit arrays of scalar symbols and
   the scalar loss is differentiated by brute force (``sympy.diff``); the difference from the derived
   formulas must be exactly 0.
2. *Numeric at a realistic size*: the exported module's ``grad`` against central differences of its
   ``loss`` (float64), as a norm-relative error and elementwise (``allclose`` with atol 1e-5,
   rtol 1e-3, the defaults of torch's ``gradcheck``), and against the derived formulas evaluated by
   the reference interpreter.
3. *An external reference*: PyTorch's own modules and autograd, when torch is installed.

What depends on the level comes from the derivation's engine (see :class:`symderive.pipeline.Engine`):
``prove`` (the symbolic proof of one program), ``cases`` (the arguments the numeric checks run at),
``interpreted`` (the derived formulas by the reference interpreter), ``level_rows`` (truncated BPTT and
a large size, at matrix level) and ``sizes_note``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from symderive.verify.numeric import central_differences, compare
from symderive.verify.report import Report, Row

__all__ = ["Case", "sizes_text", "verify"]


@dataclass(frozen=True)
class Case:
    """One numeric case: the ``arrays`` passed to the module, its keyword ``options`` (stride, ...),
    the integer ``sizes``, the ``label`` appended to each row's quantity, and the arguments of the
    derivation's ``torch_reference``."""

    arrays: dict
    options: dict
    sizes: dict
    label: str
    torch_args: tuple


def verify(d) -> Report:
    """Every gradient of every variant of ``d`` checked three ways, then the level's own rows and
    ``d.extra_checks`` (each called with the derivation and the arrays of the first case)."""
    engine, report = d.engine, Report(d.name)
    module = d.load_module()
    hows, first = [], None
    for tag, program in engine.variants:
        symbolic, how = engine.prove(program, d.backwards[tag])
        hows.append(how)
        prefix = f"{tag}: " if len(engine.variants) > 1 else ""
        for case in engine.cases(program, tag):
            first = first or case
            report.rows += gradient_rows(d, module, (tag, program), case, symbolic, prefix)
    report.notes.append(engine.sizes_note(hows))
    report.notes += reference_note(d)
    report.rows += engine.level_rows(d, module, first.arrays)
    report.rows += [check(d, first.arrays) for check in d.extra_checks]
    return report


def gradient_rows(d, module, variant, case: Case, symbolic: dict, prefix: str) -> list[Row]:
    """One row per gradient: central differences of the module's loss, the reference interpreter
    (both must agree with the module's ``grad``) and torch."""
    tag, program = variant
    grads = module.grad(**case.arrays, **case.options)
    derived = d.engine.interpreted(program, d.backwards[tag], case)
    reference = torch_gradients(d, case)

    def loss(a):
        return module.loss(**a, **case.options)

    rows = []
    for name in derived:
        rel, mx, close = compare(grads[name], central_differences(loss, case.arrays, name))
        same = compare(grads[name], derived[name])[2]
        rows.append(Row(f"{prefix}dL/d{name}{case.label}", symbolic[name], rel, mx, close and same,
                        torch_cell(reference, name, grads)))
    return rows


def torch_gradients(d, case: Case):
    """``d.torch_reference(*case.torch_args)``, or None without a reference or without torch."""
    if d.torch_reference is None or importlib.util.find_spec("torch") is None:
        return None
    return d.torch_reference(*case.torch_args)


def reference_note(d) -> list[str]:
    """``reference: torch autograd of the printed program`` when the reference says what it is and torch is
    installed (the built-ins that compare with torch.nn modules say so in their docs)."""
    description = getattr(d.torch_reference, "description", None)
    if description is None or importlib.util.find_spec("torch") is None:
        return []
    return [f"reference: {description}"]


def torch_cell(torch_grads, name, grads) -> str:
    """The reference column: ``torch ok 3e-16`` (the relative error), or "-" without torch's gradient."""
    if torch_grads is None or name not in torch_grads:
        return "-"
    rel, _, close = compare(grads[name], torch_grads[name])
    return f"torch {'ok' if close else 'FAIL'} {rel:.0e}"


def sizes_text(sizes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())
