"""Document sections every derivation shares: the model, the adjoints node by node (each with the
rule that justifies it), and the gradients of the arguments."""
from __future__ import annotations

import sympy as sp

from .derive import AdjointDef, inline, rule_statement
from .document import MAX_LINE, Section, Step
from .expr import T, TimeVar
from .model import arguments, key
from .render import latex_sum, to_latex

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



def carried_and_seed(d, state: str):
    """The adjoint of a state split into its share from the same step and its share from step t+1,
    both written through the states' adjoints only."""
    a = d.backward.adjoint_of[state]
    keep = set(d.program.states)
    same = [inline(term.expr, d.backward, keep) for term in a.terms if term.shift == 0]
    carried = [inline(term.expr, d.backward, keep) for term in a.terms if term.shift == 1]
    return same, carried


def recurrence_steps(d, options, state: str, why: str = "") -> tuple[Step, ...]:
    r"""``\bar s_t = seed + carried`` for t < T and ``seed`` at t = T: one cases block, or two
    equations when the first case is too long for one line."""
    settings = printer_settings(d, options)
    same, carried = carried_and_seed(d, state)
    adjoint = d.backward.adjoint_of[state].adjoint
    lhs = f"{to_latex(adjoint, **settings)} = {partial(d, options, d.program.defined[state].target)}"
    general, at_T = latex_sum(same + carried, **settings), latex_sum([e.xreplace({adjoint.time: T}) for e in same], **settings)
    if len(general) <= MAX_LINE:
        return (Step(lhs, rf"\begin{{cases}} {general} & 1 \le t < T \\ {at_T} & t = T \end{{cases}}", why),)
    last = to_latex(adjoint.xreplace({adjoint.time: T}), **settings)
    return (Step(lhs, general, f"{why} For $1 \\le t < T$:".strip()),
            Step(last, at_T, "At $t = T$ there is no step $T+1$, so only the same-step share remains:"))


def truncation_text(options) -> str:
    K = options.truncate or "K"
    return (rf"Truncated BPTT after $K = {K}$ steps comes in two kinds. Blocks: steps $1..T$ are split into "
            r"consecutive blocks of $K$ steps and the states entering a block are held constant (detached), so "
            r"every share that comes from step $t+1$ is dropped when $t$ is a multiple of $K$. Window: the loss of "
            r"step $t$ back-propagates through its $K$ most recent steps only, so the adjoint of a state at step "
            r"$i$ collects the losses of steps $i, \dots, i+K-1$. $K \ge T$ is full BPTT in both.")
