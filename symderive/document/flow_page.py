"""The gradient-flow page of a notes site: the figure, a table of norms at a few distances, and what they show.

Every number the prose states is read from the run the figure draws (the norms of
:func:`symderive.document.flow.with_baseline`), and so is every comparison it words ("below", "keeps"): a
setting where the LSTM's cell state does not carry the gradient is described as such. The notes draw the
LSTM at a forget-gate bias that shows the constant error carousel (``NOTES_FLOW``: 2) beside bias 0.
"""
from __future__ import annotations

import math

import numpy as np

from symderive.document import flow
from symderive.document.document import Document, Section
from symderive.document.prose import say, vanilla_jacobian

#: the notes' flow settings unless given: the LSTM at forget-gate bias 2, drawn beside bias 0
NOTES_FLOW = flow.FlowSettings(forget_bias=2.0)
#: the cell-state gradient "carries" the error when it keeps at least this share over the whole run
CAROUSEL = 1e-2
#: the distance at which the LSTM's and the RNN's hidden-state gradients are compared (or the run's last)
COMPARED_AT = 10


def number(x: float) -> str:
    r"""``1.8 \times 10^{-12}`` (inline LaTeX, two significant digits)."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return mantissa if int(exponent) == 0 else rf"{mantissa} \times 10^{{{int(exponent)}}}"


def span(norms: np.ndarray) -> tuple[float, float]:
    """The norm at distance 0 (``t = T``) and at the largest distance (``t = 1``)."""
    return float(norms[-1]), float(norms[0])


def from_to(options, norms: np.ndarray) -> str:
    """``from $a$ to $b$``: the norm at distance 0 and at the largest distance."""
    first, last = span(norms)
    return say(options, rf"from ${number(first)}$ to ${number(last)}$", rf"${number(first)}$에서 ${number(last)}$로")


def lstm_paragraph(options, s: flow.FlowSettings, results, key: str, bias: float) -> str:
    """What the run at forget-gate bias ``bias`` (the LSTM's norms under ``key``) shows, numbers from the run."""
    lstm, rnn = results[key], results["rnn"]["h"]
    d = min(COMPARED_AT, s.length - 1)
    at = s.length - 1 - d  # index of t = T - d
    mine, theirs = float(lstm["h"][at]), float(rnn[at])
    gate = (1 + math.tanh(bias / 2)) / 2  # sigma(bias), without overflow at any finite bias
    first, last = span(lstm["c"])
    kept = first > 0 and last / first >= CAROUSEL
    text = say(options,
               rf"Forget-gate bias $b_f = {bias:g}$ (the gate's pre-activation is centred on $b_f$, "
               rf"$\sigma({bias:g}) = {gate:.2f}$): over $T - 1 = {s.length - 1}$ steps the LSTM's cell-state gradient "
               rf"goes {from_to(options, lstm['c'])} and its hidden-state gradient {from_to(options, lstm['h'])}. At "
               rf"$T - t = {d}$ its $\Vert\partial L_T/\partial h_t\Vert$ (${number(mine)}$) is "
               rf"{'above' if mine > theirs else 'below'} the RNN's (${number(theirs)}$). ",
               rf"망각 게이트 편향 $b_f = {bias:g}$(게이트의 활성화 전 값이 $b_f$를 중심으로 분포, "
               rf"$\sigma({bias:g}) = {gate:.2f}$): $T - 1 = {s.length - 1}$ 단계에 걸쳐 LSTM 셀 상태의 기울기는 "
               rf"{from_to(options, lstm['c'])}, 은닉 상태의 기울기는 {from_to(options, lstm['h'])} 바뀝니다. "
               rf"$T - t = {d}$에서 $\Vert\partial L_T/\partial h_t\Vert$(${number(mine)}$)는 RNN의 값"
               rf"(${number(theirs)}$)보다 {'큽니다' if mine > theirs else '작습니다'}. ")
    return text + verdict(options, kept, gate)


def verdict(options, kept: bool, gate: float) -> str:
    """Whether the run shows the constant error carousel (the cell-state gradient kept over the run)."""
    if kept:
        return say(options,
                   r"The cell state carries the error back over the whole run: this is the constant error carousel, "
                   r"the product $\prod_j \operatorname{diag}(f_j)$ of forget gates near 1.",
                   r"셀 상태가 오차를 처음까지 실어 나릅니다. 1에 가까운 망각 게이트의 곱 "
                   r"$\prod_j \operatorname{diag}(f_j)$, 곧 constant error carousel입니다.")
    return say(options,
               rf"The cell-state gradient vanishes as well: with forget gates around ${gate:.2f}$ the product "
               r"$\prod_j \operatorname{diag}(f_j)$ shrinks at every step, so this setting does not show the carousel.",
               rf"셀 상태의 기울기도 사라집니다. 망각 게이트가 ${gate:.2f}$ 안팎이면 "
               r"곱 $\prod_j \operatorname{diag}(f_j)$가 "
               r"단계마다 줄어들므로, 이 설정에서는 캐러셀이 보이지 않습니다.")


def setting_text(options, s: flow.FlowSettings, results) -> str:
    """The setting, the RNN's and the GRU's runs, and how the figure draws the LSTM's."""
    jacobian = vanilla_jacobian(options, "j")
    rnn, gru = from_to(options, results["rnn"]["h"]), from_to(options, results["gru"]["h"])
    first, last = span(results["gru"]["h"])
    gru_kept = "" if first > 0 and last / first >= CAROUSEL else say(
        options, r": with its bias 0 the update gate is around $\sigma(0) = 0.50$, so that path shrinks too",
        r" 편향이 0이라 업데이트 게이트가 $\sigma(0) = 0.50$ 안팎이므로 이 경로도 줄어듭니다.")
    drawn = say(options, rf"so the figure draws it twice (solid: $b_f = {s.forget_bias:g}$; dashed: $b_f = 0$, "
                r"the mean "
                r"of PyTorch's initialisation).",
                rf"그래서 그림에는 LSTM을 두 번 그렸습니다(실선은 $b_f = {s.forget_bias:g}$, "
                r"점선은 PyTorch 초기화의 평균인 "
                r"$b_f = 0$).")
    if flow.BASELINE not in results:
        drawn = say(options, rf"drawn here at $b_f = {s.forget_bias:g}$.",
                    rf"여기서는 $b_f = {s.forget_bias:g}$로 그렸습니다.")
    return say(options,
               rf"Random weights (hidden size {s.hidden}, recurrent weights scaled to spectral radius {s.radius:g}, "
               rf"seed {s.seed}), and a loss only at the last step $T = {s.length}$. The norm of "
               r"$\partial L_T / \partial h_t$ against the distance $T - t$ shows how much of the last step's error "
               rf"reaches step $t$. For the vanilla RNN it is the product of $T - t$ Jacobians ${jacobian}$ applied to "
               rf"the output error; here it goes {rnn}. The GRU's update gate adds a path without the weight "
               rf"matrix and the squashing derivative; its gradient goes {gru}{gru_kept}. The LSTM's cell state adds "
               rf"the path $\operatorname{{diag}}(f_t)$, and whether it carries the gradient depends on the forget "
               rf"gate, {drawn}",
               rf"무작위 가중치(은닉 크기 {s.hidden}, 순환 가중치의 스펙트럼 반경 {s.radius:g}, 시드 {s.seed})를 쓰고, "
               rf"손실은 마지막 단계 $T = {s.length}$에만 둡니다. 거리 $T - t$에 따른 $\partial L_T / \partial h_t$의 "
               r"노름은 마지막 단계의 오차가 $t$ 단계까지 얼마나 전달되는지를 보여 줍니다. 기본 RNN에서는 출력 오차에 "
               rf"야코비안 ${jacobian}$를 $T - t$번 곱한 값이고, 여기서는 {rnn} 바뀝니다. GRU의 업데이트 게이트는 "
               r"가중치 행렬과 활성화 함수의 도함수를 거치지 않는 경로를 더하며, "
               rf"그 기울기는 {gru} 바뀝니다.{gru_kept} "
               r"LSTM의 셀 상태는 $\operatorname{diag}(f_t)$ 경로를 더하는데, 이 경로가 기울기를 실어 나르는지는 망각 "
               rf"게이트에 달려 있습니다. {drawn}")


def measurement_text(options, s: flow.FlowSettings, results) -> str:
    runs = [(flow.BASELINE, 0.0)] if flow.BASELINE in results else []
    paragraphs = [setting_text(options, s, results)]
    paragraphs += [lstm_paragraph(options, s, results, key, bias) for key, bias in runs + [("lstm", s.forget_bias)]]
    paragraphs.append(say(options,
        r"The numbers are in \texttt{gradient-flow.csv} next to the figure; \texttt{symderive flow} reproduces "
        r"them, and \texttt{symderive notes} and \texttt{symderive flow} take other settings (\texttt{--radius}, "
        r"\texttt{--forget-bias}, \texttt{--hidden}, \texttt{--length}, \texttt{--seed}).",
        r"수치는 그림 옆의 \texttt{gradient-flow.csv}에 있고, \texttt{symderive flow}로 다시 만들 수 있습니다. "
        r"\texttt{symderive notes}와 \texttt{symderive flow}에서 다른 설정(\texttt{--radius}, "
        r"\texttt{--forget-bias}, \texttt{--hidden}, \texttt{--length}, \texttt{--seed})으로 바꿔 볼 수 있습니다."))
    return "\n\n".join(paragraphs)


def flow_table(s: flow.FlowSettings, results) -> str:
    """The norms at a few distances, one column per cell and state (Markdown)."""
    distances = [d for d in (0, 1, 5, 10, 20, 30, 40, s.length - 1) if d < s.length]
    columns = [(cell, state, norms) for cell, r in results.items() for state, norms in r.items()]
    # \Vert, not \|: a "|" inside a table cell would split the cell in kramdown and GitHub's Markdown.
    head = "| $T - t$ | " + " | ".join(rf"{flow.legend(cell, s)} $\Vert\partial L_T/\partial {state}_t\Vert$"
                                        for cell, state, _ in columns) + " |"
    rule = "|---:|" + "---:|" * len(columns)
    rows = [f"| {d} | " + " | ".join(f"{norms[s.length - 1 - d]:.2e}" for _, _, norms in columns) + " |"
            for d in distances]
    return "\n".join([head, rule] + rows)


def flow_document(options, s: flow.FlowSettings, results) -> Document:
    """The page: its title, summary and the measurement (the figure and the table go below, see :func:`extra`)."""
    title = say(options, "Gradient flow: vanishing and exploding gradients", "기울기의 흐름: 기울기 소실과 폭발")
    summary = say(options,
                  "How far back the gradient of the last step's loss reaches, in the RNN, the LSTM and the GRU.",
                  "마지막 단계 손실의 기울기가 RNN, LSTM, GRU에서 얼마나 먼 과거까지 닿는지 봅니다.")
    section = Section(say(options, "The measurement", "측정"), measurement_text(options, s, results))
    return Document(title, summary, (section,), tags=("deep-learning", "rnn", "lstm", "gru", "vanishing-gradient"))


def extra(options, s: flow.FlowSettings, results, figure: str) -> str:
    """The figure, the table and the link to the data, below the page's prose."""
    alt = say(options, "Gradient norm against distance in time for the RNN, the LSTM and the GRU",
              "시간 거리에 따른 RNN, LSTM, GRU의 기울기 노름")
    data = flow.data_name(figure)
    return f"![{alt}]({figure})\n\n{flow_table(s, results)}\n\n[{data}]({data})"
