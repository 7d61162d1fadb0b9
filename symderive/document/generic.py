r"""The document of a model without prose of its own (a user's model): the engine's generic document
(the model, the adjoints node by node with their rules, the gradients, truncated BPTT) and, for a
recurrent model, between the adjoints and the gradients:

* the adjoint recurrence of every state, ``\bar s_t = (same-step share) + (share of step t+1)`` for
  ``t < T`` and the same-step share alone at ``t = T``;
* the Jacobian of one step ``\partial s_j / \partial r_{j-1}`` for every pair of states, obtained from the
  step's VJP (``vjp = J^T g``), not typed in;
* for a single state, the recurrence unrolled: ``\bar s_i = \sum_{t=i}^{T} (\prod_{j=i+1}^{t}
  \partial s_j/\partial s_{j-1})^T e_t``, where ``e_t`` is the share of the loss of step t itself.

Truncated after K steps (``options.truncate``): in blocks, the recurrence drops the share of step t+1 when t
ends a block; in a window, the unrolled sum stops at ``min(i+K-1, T)``.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symderive.document.document import Document, Section, Step
from symderive.document.prose import blocks_named, by_layout, say, window_named
from symderive.errors import ModelError
from symderive.matrix.derive import inline, state_jacobian
from symderive.matrix.latex_printer import latex_sum
from symderive.matrix.sections import (
    carried_and_seed,
    k_latex,
    printed_layout,
    printer_settings,
    recurrence_steps,
    tex,
)
from symderive.ops.nodes import t

j, i = sp.Symbol("j", integer=True), sp.Symbol("i", integer=True)


def generic_document(d, options) -> Document:
    """The engine's generic document, with the recurrence and Jacobian sections of a recurrent model
    after the adjoints (the generic document opens with the model and the adjoints)."""
    doc = d.engine.generic_document(d, options)
    if not d.recurrent:
        return doc
    keep = named_adjoints(d, options)
    added = [recurrence_section(d, options, keep)]
    try:
        added.append(jacobian_section(d, options, keep))
    except ModelError:  # a Jacobian the engine cannot read off the VJP (not linear in it): the recurrence only
        pass
    return replace(doc, sections=(*doc.sections[:2], *added, *doc.sections[2:]))


def recurrence_section(d, options, keep: set) -> Section:
    """Each state's adjoint as a recurrence backwards in time."""
    why = say(options, "The share of the loss of step $t$ itself, plus the share that comes back from step $t+1$ "
                       "(there is no step $T+1$, so the recurrence starts at $t = T$ without it).",
              "$t$ 단계 손실 자체의 몫에 $t+1$ 단계에서 돌아오는 몫을 더한 것입니다($T+1$ 단계는 없으므로 점화식은 "
              "그 몫 없이 $t = T$에서 출발합니다).")
    steps = tuple(step for k, state in enumerate(d.program.states)  # the reason once, before the first state's
                  for step in recurrence_steps(d, options, state, why if k == 0 else "", keep))
    if options.truncate is not None and options.truncate_mode == "blocks":
        steps += tuple(blocks_step(d, options, state, keep) for state in d.program.states)
    return Section(say(options, "The adjoint recurrence", "수반 점화식"), "", steps)


#: an adjoint whose definition (with every other adjoint written out) is longer than this, in LaTeX, keeps
#: its name in the recurrence (it is defined, with its rule, in the adjoints section above)
INLINE_LIMIT = 80


def named_adjoints(d, options) -> set[str]:
    """The values whose adjoints the recurrence writes by name: the states, and every value whose adjoint
    written out would be long (a softmax's share through a log: a name reads, its expansion does not)."""
    states = set(d.program.states)
    long = {a.var for a in d.backward.steps if a.var not in states
            and len(tex(d, options, inline(a.value(), d.backward, states))) > INLINE_LIMIT}
    return states | long


def truncated(latex: str) -> str:
    r"""``\delta_{t}`` -> ``\delta_{t}^{(K)}`` (a truncated adjoint)."""
    return latex + "^{(K)}"


def blocks_step(d, options, state: str, keep: set) -> Step:
    """The recurrence truncated in blocks of K steps: no share crosses from step t+1 when t ends a block."""
    settings = printer_settings(d, options)
    same, carried = carried_and_seed(d, state, keep)
    adjoint = d.backward.adjoint_of[state].adjoint
    later = tex(d, options, adjoint.xreplace({adjoint.time: t + 1}))
    general = latex_sum(same + carried, **settings).replace(later, truncated(later))
    rhs = (rf"\begin{{cases}} {general} & t < T,\ t \bmod K \neq 0 \\ {latex_sum(same, **settings)} & t = T "
           rf"\text{{ {say(options, 'or', '또는')} }} t \bmod K = 0 \end{{cases}}")
    lhs, why = blocks_named(options, k_latex(options.truncate), tex(d, options, adjoint),
                            tex(d, options, state_at(d, state, t)))
    return Step(lhs, rhs, why)


def state_at(d, state: str, time) -> sp.MatrixExpr:
    return d.program.defined[state].target.xreplace({t: time})


def scalar_state(d, state: str) -> bool:
    """A state that is a number (its Jacobians are numbers: no transpose)."""
    return d.program.defined[state].target.shape == (1, 1)


def jacobian_section(d, options, keep: set) -> Section:
    """The Jacobians of one step between states, and (one state) the closed form as a sum of products."""
    states = list(d.program.states)
    steps = [Step(rf"\frac{{\partial {tex(d, options, state_at(d, of, j))}}}"
                  rf"{{\partial {tex(d, options, state_at(d, wrt, j - 1))}}}",
                  tex(d, options, state_jacobian(d.program, of, wrt).xreplace({t: j})))
             for of in states for wrt in states]
    rows = printed_layout(d.program, options).layout == "row"
    vjp = (r"J \bar s_j" if all(scalar_state(d, s) for s in states)
           else r"\bar s_j J^\top" if rows else r"J^\top \bar s_j")
    steps[0] = replace(steps[0], why=say(options, "One step of the state map, read off its vector-Jacobian product "
                                                  rf"($\bar r_{{j-1}} \mathrel{{+}}= {vjp}$):",
                                         r"상태 사상의 한 단계를 그 벡터-야코비안 곱"
                                         rf"($\bar r_{{j-1}} \mathrel{{+}}= {vjp}$)에서 읽은 것입니다:"))
    closed = closed_form(d, options, states[0], keep) if len(states) == 1 else None
    title = say(options, "The state Jacobians and the BPTT product", "상태의 야코비안과 BPTT의 곱")
    return Section(title, "", tuple(steps) + ((closed,) if closed else ()))


def closed_form(d, options, state: str, keep: set) -> Step | None:
    r"""``\bar s_i`` as the sum over later losses of the product of Jacobians applied to their own shares
    (in a window of K steps, the losses of steps i..min(i+K-1, T) only)."""
    same = carried_and_seed(d, state, keep)[0]
    if not same:
        return None
    own = sp.MatAdd(*same).doit()
    seed = rf"\left({tex(d, options, own)}\right)" if isinstance(own, sp.MatAdd) else tex(d, options, own)
    s_j, s_prev = tex(d, options, state_at(d, state, j)), tex(d, options, state_at(d, state, j - 1))
    transpose = "" if scalar_state(d, state) else r"^{\top}"
    product = rf"\Big(\prod_{{j=i+1}}^{{t}} \frac{{\partial {s_j}}}{{\partial {s_prev}}}\Big){transpose}"
    adjoint = d.backward.adjoint_of[state].adjoint
    window = options.truncate is not None and options.truncate_mode == "window"
    name, value = tex(d, options, adjoint.xreplace({adjoint.time: i})), tex(d, options, state_at(d, state, i))
    lhs, named = window_named(options, name, value) if window else (
        rf"{name} = \frac{{\partial L}}{{\partial {value}}}", "")
    top = r"\min(i+K-1,\, T)" if window else "T"
    printed = printed_layout(d.program, options)
    rhs = rf"\sum_{{t=i}}^{{{top}}} " + by_layout(printed, f"{product} {seed}", f"{seed} {product}")
    why = closed_form_why(printed, window)
    return Step(lhs, rhs, why + named)


def closed_form_why(options, window: bool) -> str:
    left = by_layout(options, "t", "i+1")
    why = say(options, r"The recurrence unrolled: the loss of step $t \ge i$ reaches step $i$ through the product "
                       f"of the Jacobians of the steps between, ordered with $j = {left}$ on the left (the empty "
                       "product, $t = i$, is the identity).",
              r"점화식을 풀어 쓴 것입니다. $t \ge i$ 단계의 손실은 그 사이 단계들의 야코비안을 "
              f"$j = {left}$인 인자가 왼쪽에 오도록 곱한 것을 거쳐 $i$ 단계에 닿습니다"
              "($t = i$이면 빈 곱이므로 항등행렬).")
    if not window:
        return why
    K = k_latex(options.truncate)
    return why + say(options, rf" In a window of {K} steps the loss of step $t$ reaches back $K$ steps only, so "
                              r"the sum stops at $\min(i+K-1, T)$.",
                     rf" {K} 단계 윈도에서는 $t$ 단계의 손실이 $K$ 단계 전까지만 닿으므로 합은 "
                     r"$\min(i+K-1, T)$에서 멈춥니다.")
