"""Backpropagation through time for a vanilla RNN (column vectors, as in PyTorch and d2l):

    z_t = W_hh h_{t-1} + W_xh x_t + b_h,   h_t = tanh(z_t),   o_t = W_hy h_t + b_y,
    L = sum_{t=1}^{T} 1/2 ||o_t - y_t||^2,  h_0 given.
"""
from dataclasses import replace

import numpy as np
import sympy as sp

from symderive import Derivation, Model, Sizes, derive, squared_norm, tanh
from symderive.document.document import Document, Section, Step
from symderive.document.prose import blocks_named, by_layout, say, window_named
from symderive.matrix import evaluate as ev
from symderive.matrix.derive import state_jacobian
from symderive.matrix.sections import (
    adjoint_section,
    carried_and_seed,
    gradient_step,
    k_latex,
    model_section,
    tex,
    truncation_text,
)
from symderive.model import T, t
from symderive.verify.matrix_checks import jacobian_check
from symderive.verify.numeric import compare
from symderive.verify.report import Row

n, d, q = sp.symbols("n d q", integer=True, positive=True)
j = sp.Symbol("j", integer=True)


TITLE = "Backpropagation through time for a vanilla RNN"


def model() -> Model:
    m = Model("rnn", latex_names={"d_h": r"\delta"})
    W_hh, W_xh, b_h = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b_h", n)
    W_hy, b_y = m.param("W_hy", q, n), m.param("b_y", q)
    x, y = m.sequence("x", d), m.sequence("y", q)
    h = m.state("h", n)
    z = m.let("z", W_hh @ h.prev + W_xh @ x + b_h)
    m.let(h, tanh(z))
    o = m.let("o", W_hy @ h + b_y)
    m.loss(squared_norm(o - y) / 2)
    return m


# ---------------------------------------------------------------------------------------------
# The document.


def own_share(der) -> sp.MatrixExpr:
    r"""``W_{hy}^\top (o_t - y_t)``: the share of dL/dh_t from the loss of step t itself."""
    return sp.MatAdd(*carried_and_seed(der, "h")[0]).doit()


def seed_latex(der, options, at=t) -> str:
    return tex(der, options, own_share(der).xreplace({t: at}))


def product_latex(options, lo="i+1", hi="t") -> str:
    r"""The BPTT product of hidden-state Jacobians, transposed: ``(J_t \cdots J_{i+1})^\top`` written
    as a product ordered with j = t on the left (column layout), or, in the row layout where the
    Jacobians are in the denominator layout, ``(J_{i+1} \cdots J_t)^\top`` with j = i+1 on the left."""
    return rf"\Big(\prod_{{j={lo}}}^{{{hi}}} \frac{{\partial h_{{j}}}}{{\partial h_{{j-1}}}}\Big)^{{\top}}"


def chain_term(options, seed: str, lo="i+1", hi="t") -> str:
    """The share of the loss of step t in delta_i: the product applied to that step's own share."""
    return by_layout(options, f"{product_latex(options, lo, hi)} {seed}", f"{seed} {product_latex(options, lo, hi)}")


def product_order(options) -> str:
    return by_layout(options, say(options, "ordered with $j = t$ on the left and $j = i+1$ on the right",
                                  "$j = t$인 인자가 왼쪽, $j = i+1$인 인자가 오른쪽에 오도록 곱한 것"),
                     say(options, "ordered with $j = i+1$ on the left and $j = t$ on the right",
                         "$j = i+1$인 인자가 왼쪽, $j = t$인 인자가 오른쪽에 오도록 곱한 것"))


def recurrence_section(der, options, K=None, mode="blocks") -> Section:
    """delta_t as a recurrence: full BPTT, truncated in blocks of K steps, or (window) the closed form
    of the truncated adjoint, which is not one recurrence (each loss's chain is cut separately)."""
    title = say(options, "The adjoint recurrence", "수반 점화식")
    if K:
        step = window_step(der, options, K) if mode == "window" else blocks_step(der, options, K)
        return Section(title, "", (step,))
    seed, carried = seed_latex(der, options), carried_latex(der, options)
    rhs = (rf"\begin{{cases}} {seed} + {carried} & 1 \le t < T \\ "
           rf"{seed_latex(der, options, T)} & t = T \end{{cases}}")
    why = say(options,
              r"Substituting $\bar o_t$ and $\bar z_{t+1}$ into the adjoint of $h_t$. The loss of step $t$ "
              r"reaches $h_t$ directly, and every later loss reaches it through $h_{t+1}$; step $T+1$ does not "
              r"exist, so the recurrence starts from $\delta_T$ without that term.",
              r"$h_t$의 수반에 $\bar o_t$와 $\bar z_{t+1}$을 대입한 식입니다. $t$ 단계의 손실은 $h_t$에 곧바로 "
              r"닿고, 그 뒤의 손실은 모두 $h_{t+1}$을 거쳐 닿습니다. $T+1$ 단계는 없으므로 점화식은 그 항이 없는 "
              r"$\delta_T$에서 출발합니다.")
    return Section(title, "", (Step(r"\delta_{t} = \frac{\partial L}{\partial h_{t}}", rhs, why),))


def carried_latex(der, options, K=None) -> str:
    r"""The share of ``\delta_t`` that comes back from step t+1 (through ``\delta_{t+1}^{(K)}`` when truncated)."""
    carried = tex(der, options, sp.MatAdd(*carried_and_seed(der, "h")[1]).doit())
    return carried.replace(r"\delta_{t+1}", r"\delta_{t+1}^{(K)}") if K else carried


def blocks_step(der, options, K) -> Step:
    r"""``\delta_t^{(K)}`` (named as the gradient of its block's losses) as the recurrence cut at block ends."""
    seed = seed_latex(der, options)
    rhs = (rf"\begin{{cases}} {seed} + {carried_latex(der, options, K)} & t < T,\ t \bmod K \neq 0 \\ "
           rf"{seed} & t = T \text{{ {say(options, 'or', '또는')} }} t \bmod K = 0 \end{{cases}}")
    lhs, why = blocks_named(options, k_latex(K), r"\delta_{t}", "h_{t}")
    return Step(lhs, rhs, why)


def window_step(der, options, K) -> Step:
    r"""``\delta_i^{(K)}`` (named as the gradient of the losses that reach ``h_i``) as a sum of BPTT products."""
    rhs = r"\sum_{t=i}^{\min(i+K-1,\, T)} " + chain_term(options, seed_latex(der, options))
    why = say(options,
              rf"Window truncation ({k_latex(K)}): the loss of step $t$ back-propagates through its $K$ most "
              r"recent states only, so no single recurrence describes $\delta^{(K)}$; it is a sum over the losses.",
              rf"윈도 방식({k_latex(K)})에서는 $t$ 단계의 손실이 가장 최근 $K$개 상태까지만 역전파됩니다. 그래서 "
              r"$\delta^{(K)}$를 하나의 점화식으로 쓸 수 없고, 손실들의 합으로 씁니다.")
    lhs, named = window_named(options, r"\delta_{i}", "h_{i}")
    return Step(lhs, rhs, why + named)


def jacobian_section(der, options) -> Section:
    J = state_jacobian(der.program, "h", "h").xreplace({t: j})
    seed = seed_latex(der, options)
    cell = tex(der, options, der.program.defined["h"].expr.xreplace({t: j}).subs(
        der.program.defined["z"].target.xreplace({t: j}), der.program.defined["z"].expr.xreplace({t: j})))
    jacobian = tex(der, options, J)
    steps = (
        Step(r"\frac{\partial h_{j}}{\partial h_{j-1}}", jacobian, say(options,
             rf"$h_j = {cell}$: the chain rule through $\tanh$ (elementwise, so a diagonal matrix) and the linear "
             r"map $W_{hh}$.",
             rf"$h_j = {cell}$에 연쇄 법칙을 적용합니다. $\tanh$는 원소별 함수라서 대각행렬이 되고, 여기에 선형 사상 "
             r"$W_{hh}$가 곱해집니다.")),
        Step(r"\delta_{i} = \frac{\partial L}{\partial h_{i}}",
             rf"\sum_{{t=i}}^{{T}} {chain_term(options, seed)}", say(options,
             r"Unrolling the recurrence: the loss of step $t \ge i$ reaches $h_i$ through the chain "
             rf"$h_i \to h_{{i+1}} \to \dots \to h_t$, whose Jacobian is the product, {product_order(options)} "
             r"(the empty product, $t = i$, is the identity).",
             r"점화식을 풀어 쓰면, $t \ge i$ 단계의 손실은 $h_i \to h_{i+1} \to \dots \to h_t$ 사슬을 따라 $h_i$에 "
             rf"닿습니다. 이 사슬의 야코비안은 각 단계 야코비안을 {product_order(options)}입니다($t = i$이면 빈 "
             r"곱이므로 항등행렬).")),
    )
    text = say(options,
               rf"The product of $t - i$ Jacobians ${jacobian}$ is why gradients vanish or explode over long "
               r"distances. Each factor scales a vector by at most $\|W_{hh}\|$ (its largest singular value) times the "
               r"largest $\tanh$ derivative, which is at most $1$ and smaller the more the units saturate. So when the "
               r"largest singular value is below $1$ the product shrinks geometrically in $t - i$ and distant losses "
               r"stop reaching $h_i$ (vanishing); when it is well above $1$ and the units are not saturated, the "
               r"product can grow geometrically (exploding), which is why gradients are clipped.",
               rf"야코비안 ${jacobian}$를 $t - i$번 곱한 값이 멀리 떨어진 단계 사이에서 기울기가 사라지거나 폭발하는 "
               r"이유입니다. 인자 하나는 벡터의 크기를 많아야 $\|W_{hh}\|$(가장 큰 특잇값)와 $\tanh$ 도함수의 최댓값을 "
               r"곱한 만큼 늘립니다. $\tanh$ 도함수는 $1$을 넘지 않고, 유닛이 포화될수록 더 작아집니다. 그래서 가장 큰 "
               r"특잇값이 $1$보다 작으면 곱은 $t - i$에 대해 기하급수적으로 줄어들어 먼 손실이 $h_i$에 거의 닿지 "
               r"않고(기울기 소실), $1$보다 충분히 크고 유닛이 포화되지 않았다면 기하급수적으로 커질 수 "
               r"있습니다(기울기 폭발). 기울기 클리핑이 필요한 이유가 이것입니다.")
    return Section(say(options, "The hidden-state Jacobian and the BPTT product", "은닉 상태의 야코비안과 BPTT의 곱"),
                   text, steps)


def general_form_section(der, options) -> Section:
    f = lambda k, h: rf"f(x_{{{k}}}, h_{{{h}}}, w_h)"  # noqa: E731
    own, product = rf"\frac{{\partial {f('i', 'i-1')}}}{{\partial w_h}}", (
        rf"\Big(\prod_{{j=i+1}}^{{t}} \frac{{\partial {f('j', 'j-1')}}}{{\partial h_{{j-1}}}}\Big)")
    full = (rf"\frac{{\partial {f('t', 't-1')}}}{{\partial w_h}} + \sum_{{i=1}}^{{t-1}} "
            + by_layout(options, f"{product} {own}", f"{own} {product}"))
    J = tex(der, options, state_jacobian(der.program, "h", "h").xreplace({t: j}))
    text = say(options,
               r"For any cell $h_t = f(x_t, h_{t-1}, w_h)$ (as d2l.ai writes it), the total derivative of a "
               r"state with respect to the weights collects one term per earlier step:",
               r"셀이 어떤 형태이든 $h_t = f(x_t, h_{t-1}, w_h)$로 쓰면(d2l.ai의 표기), 상태를 가중치로 미분한 "
               r"전미분은 앞선 단계마다 항을 하나씩 모읍니다:")
    return Section(say(options, "The general form", "일반적인 형태"), text, (
        Step(r"\frac{\partial h_{t}}{\partial w_h}", full),
        Step(r"\frac{\partial f(x_j, h_{j-1}, w_h)}{\partial h_{j-1}}", J, say(options,
             "For the vanilla RNN the factor in the product is the Jacobian above:",
             "기본 RNN에서 곱의 인자는 위에서 구한 야코비안입니다:")),
    ))


def truncation_section(der, options, K=None, modes=None, on_page=False) -> Section:
    """What truncation drops from delta_i, for blocks and/or window truncation after K steps (``on_page``: in
    the truncated-BPTT page, whose first section has said what the two kinds are)."""
    seed = seed_latex(der, options)
    K = K or options.truncate or "K"
    modes = modes or ([options.truncate_mode] if options.truncate else ["blocks", "window"])
    steps = []
    if "blocks" in modes:
        steps.append(Step(r"\delta_{i} - \delta_{i}^{(K)}",
                          rf"\sum_{{t=b_i+1}}^{{T}} {chain_term(options, seed)}", say(options,
            rf"Blocks ({k_latex(K)}): steps $1..T$ are split into consecutive blocks of $K$ steps and the state "
            r"entering a block is held constant (detached), so each block is back-propagated on its own. "
            r"With $b_i = \min(K \lceil i/K \rceil, T)$ the last step of $h_i$'s block, what is dropped is every "
            r"later loss:",
            rf"블록 방식({k_latex(K)}): $1..T$ 단계를 $K$개씩 연속된 블록으로 나누고, 블록에 들어오는 상태를 상수로 "
            r"고정(detach)해 블록마다 따로 역전파합니다. $h_i$가 속한 블록의 마지막 단계를 "
            r"$b_i = \min(K \lceil i/K \rceil, T)$라 하면, 버려지는 것은 그 뒤에 오는 모든 손실입니다:")))
    if "window" in modes:
        steps.append(Step(r"\delta_{i} - \delta_{i}^{(K)}",
                          rf"\sum_{{t=i+K}}^{{T}} {chain_term(options, seed)}", say(options,
            rf"Window ({k_latex(K)}, d2l's regular truncation): the loss of step $t$ back-propagates through "
            r"its $K$ most recent states $h_t, \dots, h_{t-K+1}$ only, so the losses $K$ or more steps "
            r"after $h_i$ are dropped:",
            rf"윈도 방식({k_latex(K)}, d2l의 regular truncation): $t$ 단계의 손실은 가장 최근 $K$개 상태 "
            r"$h_t, \dots, h_{t-K+1}$까지만 역전파됩니다. 그래서 $h_i$보다 $K$ 단계 이상 뒤에 오는 손실이 "
            r"버려집니다:")))
    text = say(options, r"Truncation replaces $\delta_t$ by $\delta_t^{(K)}$ in every parameter gradient",
               r"잘라 내면 모든 매개변수 기울기에서 $\delta_t$ 대신 $\delta_t^{(K)}$를 씁니다")
    if not on_page:
        text += say(options, r"; $K \ge T$ is full BPTT" + (" in both kinds" if len(modes) > 1 else ""),
                    (". 두 방식 모두 " if len(modes) > 1 else ". ") + r"$K \ge T$이면 전체 BPTT와 같습니다")
    text += say(options,
                r". What it drops are exactly the terms with long products of "
                r"Jacobians: the ones that carry long-range dependencies, and the ones that vanish or explode. So "
                r"truncation bounds the cost (time and memory grow with $K$, not $T$) and keeps gradients stable, at "
                r"the price of a biased gradient: the network cannot learn from dependencies longer than $K$ steps "
                r"through these terms.",
                r". 버려지는 것은 정확히 야코비안을 길게 곱한 항, 곧 먼 거리의 "
                r"의존성을 실어 나르는 항이자 사라지거나 폭발하는 항입니다. 그래서 계산량(시간과 메모리가 $T$가 아니라 "
                r"$K$에 비례)을 줄이고 기울기를 안정시키는 대신, 기울기가 편향됩니다. 이 항들을 통해서는 $K$ 단계보다 "
                r"긴 의존성을 배울 수 없습니다.")
    title = (say(options, "What truncation drops", "잘라 내면 버려지는 항") if on_page
             else say(options, "Truncated BPTT", "Truncated BPTT: 무엇을 버리는가"))
    return Section(title, text, tuple(steps))


def parameter_section(der, options) -> Section:
    grads = der.backward.adjoint_of
    names = ("W_hh", "W_xh", "b_h", "h0", "x")
    steps = [gradient_step(der, options, grads[name]) for name in names]
    text = say(options,
               r"The weights are used at every step, so their gradients sum one share per step, written "
               r"through $\delta_t \odot (1 - h_t \odot h_t) = \partial L / \partial z_t$.",
               r"가중치는 모든 단계에서 쓰이므로 기울기는 단계마다 생기는 몫을 더한 것입니다. 각 몫은 "
               r"$\delta_t \odot (1 - h_t \odot h_t) = \partial L / \partial z_t$로 씁니다.")
    if options.truncate:
        text += say(options, rf" With truncation ($K = {options.truncate}$, {options.truncate_mode}), read "
                             r"$\delta_t^{(K)}$ for $\delta_t$.",
                    rf" 잘라 낸 경우($K = {options.truncate}$, "
                    rf"{dict(blocks='블록', window='윈도')[options.truncate_mode]} 방식)에는 $\delta_t$ 대신 "
                    r"$\delta_t^{(K)}$로 읽습니다.")
    return Section(say(options, "Gradients of the hidden layer", "은닉층의 기울기"), text, tuple(steps))


def output_section(der, options) -> Section:
    grads = der.backward.adjoint_of
    return Section(say(options, "Gradients of the output layer", "출력층의 기울기"),
                   say(options, r"$W_{hy}$ and $b_y$ are used at every step, so their gradients sum the output "
                                r"error $o_t - y_t$ of every step.",
                       r"$W_{hy}$와 $b_y$는 모든 단계에서 쓰이므로, 그 기울기는 단계마다의 출력 오차 $o_t - y_t$를 "
                       r"모두 더한 것입니다."),
                   tuple(gradient_step(der, options, grads[name]) for name in ("W_hy", "b_y")))


def truncated_page_sections(der, options) -> tuple[Section, ...]:
    """Truncated BPTT on its own: the blocks recurrence and the window closed form for a symbolic K,
    and what each drops."""
    intro = Section(say(options, "Two ways to truncate", "두 가지 잘라 내기 방식"), truncation_text(options))
    blocks = recurrence_section(der, options, K="K", mode="blocks")
    window = recurrence_section(der, options, K="K", mode="window")
    return (intro, replace(blocks, title=say(options, "Blocks: the truncated recurrence", "블록 방식: 잘린 점화식")),
            replace(window, title=say(options, "Window: the truncated closed form", "윈도 방식: 잘린 닫힌 형태")),
            truncation_section(der, options, K="K", modes=("blocks", "window"), on_page=True))


PAGES = ("rnn", "bptt", "truncated-bptt")  # the notes pages this derivation splits into (see pages)


def pages(der: Derivation, options) -> tuple[tuple[str, Document], ...]:
    """The derivation as three notes pages in teaching order: the RNN and its node-by-node adjoints,
    backpropagation through time, and truncated BPTT."""
    title, summary = der.heading(options)
    tags = ("deep-learning", "rnn", "bptt")
    return tuple(zip(PAGES, (
        Document(say(options, "A vanilla RNN: the model and its adjoints", "기본 RNN: 모델과 노드별 역전파"),
                         summary,
                         (model_section(der, options), adjoint_section(der, options), output_section(der, options)),
                         tags=tags[:2]),
        Document(title, say(options,
            r"The adjoint of the hidden state as a recurrence, unrolled into a sum of products of hidden-state "
            r"Jacobians, and the gradients of the hidden layer.",
            r"은닉 상태의 수반을 점화식으로 쓰고, 이를 은닉 상태 야코비안의 곱들의 합으로 풀어 쓴 다음, 은닉층의 "
            r"기울기를 구합니다."),
            (recurrence_section(der, options, options.truncate, options.truncate_mode), jacobian_section(der, options),
             parameter_section(der, options), general_form_section(der, options)), tags=tags),
        Document(say(options, "Truncated BPTT: what it drops", "Truncated BPTT: 무엇을 버리는가"),
            say(options, r"Back-propagating through all $T$ steps costs time and memory in proportion to $T$, and the "
                         r"long products of Jacobians vanish or explode. Truncation cuts them after $K$ steps.",
                r"$T$ 단계 전체를 역전파하면 시간과 메모리가 $T$에 비례해 들고, 긴 야코비안 곱은 사라지거나 "
                r"폭발합니다. 잘라 내기(truncation)는 이 곱을 $K$ 단계에서 끊습니다."),
            truncated_page_sections(der, options), tags=(*tags, "truncated-bptt")),
    )))


def document(der: Derivation, options) -> Document:
    sections = (
        model_section(der, options),
        adjoint_section(der, options),
        output_section(der, options),
        recurrence_section(der, options, options.truncate, options.truncate_mode),
        jacobian_section(der, options),
        parameter_section(der, options),
        general_form_section(der, options),
        truncation_section(der, options),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "rnn", "bptt"))


# ---------------------------------------------------------------------------------------------
# Checks beyond the gradients: the Jacobian and the closed form of delta_i.


def closed_form_check(der, arrays) -> Row:
    """delta_i from the BPTT product (with the derived Jacobian) against the adjoint recurrence."""
    p, bw = der.program, der.backward
    env = ev.bind(p, arrays, ev.sizes_of(p, arrays), ev.NUMPY)
    ev.forward(p, env)
    ev.backward(bw, env)
    steps = env.sizes[T]
    J = state_jacobian(p, "h", "h")
    jac = {s: ev.evaluate(J, env, s) for s in range(1, steps + 1)}
    own = {s: ev.evaluate(own_share(der), env, s) for s in range(1, steps + 1)}  # W_hy^T (o_s - y_s)
    errors = []
    for i in range(1, steps + 1):
        total, chain = 0, np.eye(jac[1].shape[0])
        for s in range(i, steps + 1):
            if s > i:
                chain = jac[s] @ chain
            total = total + chain.T @ own[s]
        errors.append(compare(total, env[("d_h", i)]))
    return Row("delta_i (BPTT product)", None, max(e[0] for e in errors), max(e[1] for e in errors),
               all(e[2] for e in errors))


def torch_reference(arrays) -> dict:
    """Gradients from torch.nn.RNN (tanh; weight_ih = W_xh, weight_hh = W_hh, bias_ih = b_h, bias_hh = 0)
    and torch autograd, in float64."""
    import torch

    a = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    rnn = torch.nn.RNN(a["x"].shape[1], a["W_hh"].shape[0], nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        rnn.bias_hh_l0.zero_()
    rnn.bias_hh_l0.requires_grad_(False)
    params = {"weight_ih_l0": a["W_xh"], "weight_hh_l0": a["W_hh"],
              "bias_ih_l0": a["b_h"], "bias_hh_l0": rnn.bias_hh_l0}
    hs, _ = torch.func.functional_call(rnn, params, (a["x"], a["h0"][None, :]))
    o = hs @ a["W_hy"].T + a["b_y"]
    (0.5 * ((o - a["y"]) ** 2).sum()).backward()
    return {k: v.grad.numpy() for k, v in a.items()}


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"A vanilla RNN with a $\tanh$ hidden layer and a linear output, trained with a squared "
                 r"loss summed over $T$ steps."),
        title_ko="기본 RNN의 시간 역전파(BPTT)",
        summary_ko=(r"$\tanh$ 은닉층과 선형 출력층으로 이루어진 기본 RNN을, $T$ 단계에 걸쳐 더한 제곱 손실로 "
                    r"학습하는 모델입니다."),
        build_pages=pages,
        sizes=Sizes(small={n: 2, d: 2, q: 1, T: 3}, numeric={n: 16, d: 8, q: 4, T: 20},
                    large={n: 64, d: 32, q: 8, T: 50}),
        build_document=document,
        extra_checks=(jacobian_check("h", "h"), closed_form_check),
        torch_reference=torch_reference,
    )


__all__ = ["build", "model"]
