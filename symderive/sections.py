"""Document sections every derivation shares: the model, the adjoints node by node (each with the
rule that justifies it), and the gradients of the arguments."""
from __future__ import annotations

import sympy as sp

from .derive import AdjointDef, inline, rule_statement
from .document import Section, Step
from .expr import TimeVar
from .model import arguments, key
from .render import latex_identifier, latex_sum, to_latex

TRIVIAL_RULES = {"MatAdd", "Add"}


def printer_settings(d, options) -> dict:
    return {"latex_names": d.latex_names, "bold": options.bold}


def tex(d, options, expr) -> str:
    return to_latex(expr, **printer_settings(d, options))


def loss_latex(d, options) -> str:
    body = tex(d, options, d.program.loss)
    if d.program.recurrent:
        return rf"\sum_{{t=1}}^{{T}} {body}"
    return body


def model_section(d, options) -> Section:
    """The forward equations, the loss, and every argument's size."""
    p = d.program
    steps = [Step(tex(d, options, a.target), tex(d, options, a.expr)) for a in p.assignments]
    steps.append(Step("L", loss_latex(d, options)))
    sizes = ", ".join(rf"${tex(d, options, v)} \in \mathbb{{R}}^{{{size_latex(v)}}}$" for v in arguments(p))
    text = f"Sizes: {sizes}."
    if p.recurrent:
        initial = ", ".join(f"${tex(d, options, v)}$" for v in p.states.values())
        text += f" The steps run for $t = 1, \\dots, T$ from the given initial state {initial}."
    return Section("Model", text, tuple(steps))


def size_latex(v) -> str:
    rows, cols = v.shape
    return sp.latex(rows) if cols == 1 else rf"{sp.latex(rows)} \times {sp.latex(cols)}"


def partial(d, options, v) -> str:
    r"""``\frac{\partial L}{\partial v}``."""
    return rf"\frac{{\partial L}}{{\partial {tex(d, options, v)}}}"


def adjoint_section(d, options) -> Section:
    """Reverse mode node by node: each adjoint as the sum of the shares it receives."""
    bw = d.backward
    steps = []
    for a in bw.steps:
        var = variable_of(d, a)
        lhs = rf"{tex(d, options, a.adjoint)} = {partial(d, options, var)}"
        steps.append(Step(lhs, latex_sum([term.expr for term in a.terms], **printer_settings(d, options)),
                          why=justification(d, options, a, var)))
    text = (r"Write $\bar v = \partial L / \partial v$ for the adjoint of a value $v$. Going through the "
            "program backwards, each adjoint is the sum of the shares it receives from every place "
            "the value is used.")
    return Section("Adjoints, node by node", text, tuple(steps))


def variable_of(d, a: AdjointDef):
    """The model value whose adjoint ``a`` is."""
    target = next(x.target for x in d.program.assignments if key(x.target) == a.var)
    return target


def justification(d, options, a: AdjointDef, var) -> str:
    rules = []
    for term in a.terms:
        for r in term.rules:
            if r not in TRIVIAL_RULES and r not in rules:
                rules.append(r)
    sources = ", ".join(f"${source_latex(d, options, term)}$" for term in a.terms)
    why = f"${tex(d, options, var)}$ is used in {sources}; by " + ", and ".join(f"${rule_statement(r)}$" for r in rules) + "."
    for term in a.terms:
        if term.shift:
            user = source_latex(d, options, term)
            why += (f" ${tex(d, options, var)}$ is also read by the next step (in ${user}$), so it receives that "
                    "step's share; there is no step $T+1$, so at $t = T$ that share is absent.")
            break
    return why


def source_latex(d, options, term) -> str:
    if term.source == "loss":
        return "L"
    target = next(x.target for x in d.program.assignments if key(x.target) == term.source)
    if isinstance(target, TimeVar) and term.shift:
        target = target.at(target.time + term.shift)
    return tex(d, options, target)


def gradient_step(d, options, g: AdjointDef, why: str = "") -> Step:
    value = inline(g.value(), d.backward, keep=d.keep)
    var = next(v for v in arguments(d.program) if key(v) == g.var)
    return Step(partial(d, options, var), tex(d, options, value), why)


def gradients_section(d, options, names=None, title="Gradients", text="") -> Section:
    """``dL/dv`` for the arguments ``names`` (default: all), written through the kept adjoints."""
    wanted = [g for g in d.backward.grads if names is None or g.var in names]
    return Section(title, text, tuple(gradient_step(d, options, g) for g in wanted))


def symbol_latex(d, options, name: str) -> str:
    return d.latex_names.get(name) or latex_identifier(name, options.bold)
