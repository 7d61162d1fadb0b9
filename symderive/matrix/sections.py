"""Document sections every derivation shares: the model, the adjoints node by node (each with the
rule that justifies it), and the gradients of the arguments."""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symderive.document.document import MAX_LINE, Section, Step
from symderive.document.prose import by_layout, say
from symderive.matrix.derive import AdjointDef, inline, rule_statement
from symderive.matrix.latex_printer import latex_sum, to_latex
from symderive.matrix.product_order import print_order
from symderive.model.program import arguments, is_fixed, key
from symderive.model.scalars import is_scalar
from symderive.ops.nodes import T, TimeVar

TRIVIAL_RULES = {"MatAdd", "Add"}


def printer_settings(d, options) -> dict:
    return {"latex_names": d.latex_names, "bold": options.bold, "layout": options.layout,
            "model_order": print_order(d.program)}


def tex(d, options, expr) -> str:
    return to_latex(expr, **printer_settings(d, options))


def loss_latex(d, options) -> str:
    """``L``: the model's loss, ``\\sum_{t=1}^{T} \\ell_t``, or the mean ``\\frac{1}{T} \\sum_{t=1}^{T} \\ell_t``."""
    if not d.program.recurrent:
        return tex(d, options, d.program.loss)
    per_step, mean = over_steps(d.program.loss)
    body = tex(d, options, per_step)
    if isinstance(per_step, sp.Add):  # MatAdd too
        body = rf"\left({body}\right)"
    body = rf"\sum_{{t=1}}^{{T}} {body}"
    return rf"\frac{{1}}{{T}} {body}" if mean else body


def over_steps(loss) -> tuple:
    """``(l_t, mean)``: the loss of one step, with the factor ``1/T`` of a mean over steps taken out."""
    if T not in loss.free_symbols:
        return loss, False
    if isinstance(loss, sp.MatMul):
        coeff, factors = loss.as_coeff_matrices()
        return sp.MatMul(coeff * T, *factors).doit(), True
    return loss * T, True


def model_section(d, options) -> Section:
    """The forward equations, the loss, and every argument's size."""
    p = d.program
    steps = [Step(tex(d, options, a.target), tex(d, options, a.expr)) for a in p.assignments]
    steps.append(Step("L", loss_latex(d, options)))
    sizes = ", ".join(rf"${tex(d, options, shown(p, v))} \in {space_latex(v, options)}$" for v in arguments(p))
    text = say(options, f"Sizes: {sizes}.", f"크기: {sizes}.")
    if not all(map(is_scalar, arguments(p))):
        text += " " + layout_text(printed_layout(p, options))
    if p.recurrent:
        text += initial_text(d, options)
    return Section(say(options, "Model", "모델"), text, tuple(steps))


def initial_text(d, options) -> str:
    """Where the steps start: the given initial states (arguments) and those fixed at zero (``h_0 = 0``)."""
    p = d.program
    given = ", ".join(f"${tex(d, options, shown(p, v))}$" for v in p.states.values() if not is_fixed(v))
    fixed = ", ".join(f"${tex(d, options, d.program.defined[s].target.at(0))} = 0$"
                      for s, v in p.states.items() if is_fixed(v))
    if not fixed:
        return say(options, f" The steps run for $t = 1, \\dots, T$ from the given initial state {given}.",
                   f" 주어진 초기 상태 {given}에서 출발해 $t = 1, \\dots, T$까지 한 단계씩 진행합니다.")
    start = f"{given}, {fixed}" if given else fixed
    return say(options, f" The steps run for $t = 1, \\dots, T$ from the initial state {start}.",
               f" 초기 상태 {start}에서 출발해 $t = 1, \\dots, T$까지 한 단계씩 진행합니다.")


def written_in_rows(program) -> bool:
    """Is the model written with row vectors (``x_t W + b``, every vector argument 1 x n)?"""
    vectors = [v for v in arguments(program) if not is_scalar(v) and 1 in v.shape]
    return bool(vectors) and all(v.shape[0] == 1 for v in vectors)


def printed_layout(program, options):
    """Options whose layout is the convention the formulas are printed in: the model's own, unless
    the layout option writes it in the other one (a model written in rows prints in rows)."""
    if not written_in_rows(program):
        return options
    return replace(options, layout="column" if options.layout == "row" else "row")


def layout_text(options) -> str:
    """One sentence on the vector convention the formulas use."""
    return by_layout(options,
                     say(options, "Vectors are columns, so a weight multiplies from the left.",
                         "벡터는 열벡터이고, 가중치는 왼쪽에서 곱합니다."),
                     say(options, r"Vectors are rows (as in code that stores a batch as rows), so a weight multiplies "
                         r"from the right; a Jacobian $\partial u/\partial v$ is written in the denominator layout, "
                         r"so that $du = dv\, \partial u/\partial v$.",
                         r"벡터는 행벡터로 씁니다(배치를 행으로 쌓는 코드와 같은 관례). 그래서 가중치는 오른쪽에서 "
                         r"곱하고, 야코비안 $\partial u/\partial v$는 $du = dv\, \partial u/\partial v$가 되도록 분모 "
                         r"배치(denominator layout)로 씁니다."))


def space_latex(v, options=None) -> str:
    """``\\mathbb{R}^{n \\times d}``; ``\\mathbb{R}`` for a scalar."""
    return r"\mathbb{R}" if is_scalar(v) else rf"\mathbb{{R}}^{{{size_latex(v, options)}}}"


def size_latex(v, options=None) -> str:
    """``n``, ``n \times d``; in the row layout the shape of the transpose (``1 \times n``)."""
    rows, cols = v.shape
    if options is not None and options.layout == "row":
        rows, cols = cols, rows
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
    text = say(options,
               r"Write $\bar v = \partial L / \partial v$ for the adjoint of a value $v$. Going through the "
               "program backwards, each adjoint is the sum of the shares it receives from every place "
               "the value is used.",
               r"손실을 값 $v$로 미분한 $\bar v = \partial L / \partial v$를 $v$의 수반(adjoint)이라고 부릅니다. "
               "프로그램을 끝에서부터 거슬러 올라가면, 각 수반은 그 값이 쓰인 모든 곳에서 되돌아오는 몫을 더한 "
               "것입니다.")
    return Section(say(options, "Adjoints, node by node", "노드별 역전파"), text, tuple(steps))


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
    rules = rules or ["MatAdd"]  # a value read only by a sum (a residual connection): the sum's rule says it all
    sources = uses_text(options, [source_latex(d, options, term) for term in a.terms])
    statements = [f"${rule_statement(r, printed_layout(d.program, options).layout)}$" for r in rules]
    v = tex(d, options, var)
    why = say(options, f"${v}$ is used in {sources}; by " + ", and ".join(statements) + ".",
              f"${v}$의 사용처는 {sources}입니다. " + ", ".join(statements) + "에 따라 정리하면 다음과 같습니다.")
    later = ", ".join(dict.fromkeys(f"${source_latex(d, options, term)}$" for term in a.terms if term.shift))
    if later:
        why += say(options, f" ${v}$ is also read by the next step (in {later}), so it receives that "
                   "step's share; there is no step $T+1$, so at $t = T$ that share is absent.",
                   f" ${v}$는 다음 단계({later})에서도 읽히므로 그 단계의 몫도 받습니다. 다만 $T+1$ 단계는 "
                   "없으므로 $t = T$에서는 이 몫이 빠집니다.")
    return why


def uses_text(options, users: list[str]) -> str:
    """``$h_{t}$ (twice), $a_{n,t+1}$``: each value that uses another, once, with how often it does."""
    counts = {u: users.count(u) for u in users}
    times = {2: say(options, " (twice)", "(두 번)")}
    return ", ".join(f"${u}$" + (times.get(n) or say(options, f" ({n} times)", f"({n}번)") if n > 1 else "")
                     for u, n in counts.items())


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
    return Step(partial(d, options, shown(d.program, var)), tex(d, options, value), why)


def shown(program, v):
    """How an argument is written: an initial state as the state at step 0 (``h_{1,0}`` for the state
    ``h1``, whose argument is ``h10``), any other argument as itself."""
    state = next((s for s, initial in program.states.items() if initial == v), None)
    return v if state is None else TimeVar(state, 0, *v.shape)


def gradients_section(d, options, names=None, title="", text="") -> Section:
    """``dL/dv`` for the arguments ``names`` (default: all), written through the kept adjoints."""
    title = title or say(options, "Gradients", "기울기")
    wanted = [g for g in d.backward.grads if names is None or g.var in names]
    return Section(title, text, tuple(gradient_step(d, options, g) for g in wanted))



def carried_and_seed(d, state: str, keep: set | None = None):
    """The adjoint of a state split into its share from the same step and its share from step t+1,
    both written through the adjoints of ``keep`` only (default: the states')."""
    a = d.backward.adjoint_of[state]
    keep = set(d.program.states) if keep is None else keep
    same = [inline(term.expr, d.backward, keep) for term in a.terms if term.shift == 0]
    carried = [inline(term.expr, d.backward, keep) for term in a.terms if term.shift == 1]
    return same, carried


def recurrence_steps(d, options, state: str, why: str = "", keep: set | None = None) -> tuple[Step, ...]:
    r"""``\bar s_t = seed + carried`` for t < T and ``seed`` at t = T: one cases block, or two
    equations when the first case is too long for one line (adjoints written as in :func:`carried_and_seed`)."""
    settings = printer_settings(d, options)
    same, carried = carried_and_seed(d, state, keep)
    adjoint = d.backward.adjoint_of[state].adjoint
    lhs = f"{to_latex(adjoint, **settings)} = {partial(d, options, d.program.defined[state].target)}"
    general, at_T = (latex_sum(same + carried, **settings),
                     latex_sum([e.xreplace({adjoint.time: T}) for e in same], **settings))
    if len(general) <= MAX_LINE:
        return (Step(lhs, rf"\begin{{cases}} {general} & 1 \le t < T \\ {at_T} & t = T \end{{cases}}", why),)
    last = to_latex(adjoint.xreplace({adjoint.time: T}), **settings)
    return (Step(lhs, general, (why + say(options, " For $1 \\le t < T$:", " $1 \\le t < T$일 때:")).strip()),
            Step(last, at_T, say(options, "At $t = T$ there is no step $T+1$, so only the same-step share remains:",
                                 "$t = T$에서는 $T+1$ 단계가 없으므로 같은 단계의 몫만 남습니다:")))


def k_latex(K) -> str:
    """``$K = 5$`` for a given number of steps, ``$K$`` when it stays symbolic."""
    return "$K$" if str(K) == "K" else f"$K = {K}$"


def truncation_text(options) -> str:
    K = options.truncate or "K"
    return say(options,
               rf"Truncated BPTT after {k_latex(K)} steps comes in two kinds. Blocks: steps $1..T$ are split into "
               r"consecutive blocks of $K$ steps and the states entering a block are held constant (detached), so "
               r"every share that comes from step $t+1$ is dropped when $t$ is a multiple of $K$. Window: the loss of "
               r"step $t$ back-propagates through its $K$ most recent steps only, so the adjoint of a state at step "
               r"$i$ collects the losses of steps $i, \dots, i+K-1$. $K \ge T$ is full BPTT in both.",
               rf"{k_latex(K)} 단계에서 자르는 truncated BPTT에는 두 가지가 있습니다. 블록 방식은 $1..T$ 단계를 "
               r"$K$개씩 연속된 블록으로 나누고, 블록에 들어오는 상태를 상수로 고정(detach)합니다. 그래서 $t$가 $K$의 "
               r"배수이면 $t+1$ 단계에서 오는 몫이 모두 사라집니다. 윈도 방식은 $t$ 단계의 손실을 가장 최근 $K$ "
               r"단계까지만 역전파하므로, $i$ 단계 상태의 수반에는 $i, \dots, i+K-1$ 단계의 손실만 모입니다. 두 방식 "
               r"모두 $K \ge T$이면 전체 BPTT와 같습니다.")


def truncation_section(options) -> Section:
    """What truncated BPTT is, in both kinds (the section of every recurrent model's document)."""
    return Section(say(options, "Truncated BPTT", "Truncated BPTT (잘린 BPTT)"), truncation_text(options))
