"""An LSTM in PyTorch's documented equations and gate order (i, f, g, o), with a linear output layer:

    i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)       o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                          h_t = o_t ⊙ tanh(c_t)
    yhat_t = W_hy h_t + b_y,   L = sum_t 1/2 ||yhat_t - y_t||^2,   h_0, c_0 given.
"""

from symderive import Derivation, Model, derive, hadamard, sigmoid, tanh
from symderive.derivations.gated import (
    SIZES,
    H,
    all_gradients_section,
    d,
    output_layer,
    torch_layout_source,
    torch_reference,
    weights,
)
from symderive.document.document import Document, Section, Step
from symderive.document.prose import say, vanilla_jacobian
from symderive.matrix.derive import state_jacobian
from symderive.matrix.sections import adjoint_section, model_section, recurrence_steps, tex, truncation_section
from symderive.verify.matrix_checks import jacobian_check

TITLE = "LSTM: backpropagation through the cell and the hidden state"
GATES = "ifgo"
ACTIVATION = {"i": sigmoid, "f": sigmoid, "g": tanh, "o": sigmoid}


def model() -> Model:
    m = Model("lstm", latex_names={"yhat": r"\hat{y}", "d_h": r"\delta^{h}", "d_c": r"\delta^{c}"})
    W_i, W_h, b_i, b_h = weights(m, GATES)
    x = m.sequence("x", d)
    h, c = m.state("h", H), m.state("c", H)
    gate = {}
    for k, g in enumerate(GATES):
        pre = m.let(f"a_{g}", W_i[k] @ x + b_i[k] + W_h[k] @ h.prev + b_h[k])
        gate[g] = m.let(g, ACTIVATION[g](pre))
    m.let(c, hadamard(gate["f"], c.prev) + hadamard(gate["i"], gate["g"]))
    m.let(h, hadamard(gate["o"], tanh(c)))
    output_layer(m, h)
    return m


def recurrences_section(der, options) -> Section:
    return Section(say(options, "The two adjoint recurrences", "두 개의 수반 점화식"), say(options,
        r"Both states are recurrent, so each adjoint depends on the next step's. Written through "
        r"$\delta^h_t = \partial L / \partial h_t$ and $\delta^c_t = \partial L / \partial c_t$ only:",
        r"두 상태 모두 다음 단계로 이어지므로, 각 수반은 다음 단계의 수반에 의존합니다. "
        r"$\delta^h_t = \partial L / \partial h_t$와 $\delta^c_t = \partial L / \partial c_t$만으로 "
        r"쓰면 다음과 같습니다:"), (
        *recurrence_steps(der, options, "c", say(options,
            r"The cell state reaches the loss through $h_t$ and, with the forget gate as its only factor, through "
            r"$c_{t+1}$: $\delta^c_t$ is the path through $h_t$ plus $\delta^c_{t+1} \odot f_{t+1}$.",
            r"셀 상태는 $h_t$를 거쳐 손실에 닿고, 또 망각 게이트 하나만 곱해진 채로 $c_{t+1}$을 거쳐서도 닿습니다. "
            r"그래서 $\delta^c_t$는 $h_t$를 거치는 경로에 $\delta^c_{t+1} \odot f_{t+1}$을 더한 것입니다.")),
        *recurrence_steps(der, options, "h", say(options,
            r"The hidden state reaches the loss through the output layer and through the four gates of step $t+1$.",
            r"은닉 상태는 출력층을 거쳐, 그리고 $t+1$ 단계의 네 게이트를 거쳐 손실에 닿습니다.")),
    ))


def jacobian_section(der, options) -> Section:
    p = der.program
    J = {(a, b): tex(der, options, state_jacobian(p, a, b)) for a in ("c", "h") for b in ("c", "h")}
    vanilla = vanilla_jacobian(options)
    text = say(options,
               r"One step maps $(h_{t-1}, c_{t-1})$ to $(h_t, c_t)$. The vanilla RNN has only "
               rf"$\partial h_t / \partial h_{{t-1}} = {vanilla}$, and a product of "
               r"many such factors shrinks or grows geometrically. The LSTM's cell state has a direct path whose "
               r"Jacobian is just the forget gate, with no weight matrix and no squashing derivative: when "
               r"$f_t \approx 1$ the product $\prod_j \operatorname{diag}(f_j)$ stays close to the identity and the "
               r"gradient is carried over many steps (the constant error carousel).",
               r"한 단계는 $(h_{t-1}, c_{t-1})$을 $(h_t, c_t)$로 보냅니다. 기본 RNN에는 "
               rf"$\partial h_t / \partial h_{{t-1}} = {vanilla}$ 하나뿐이라, 이런 인자를 여러 번 곱하면 "
               r"기하급수적으로 줄어들거나 커집니다. LSTM의 셀 상태에는 야코비안이 망각 게이트 자체인 직통 경로가 "
               r"있습니다. 가중치 행렬도, 값을 눌러 주는 활성화 함수의 도함수도 끼지 않습니다. 그래서 "
               r"$f_t \approx 1$이면 곱 $\prod_j \operatorname{diag}(f_j)$가 항등행렬 가까이 머물고, 기울기가 여러 "
               r"단계를 건너 전달됩니다(constant error carousel).")
    return Section(say(options, "Jacobians of one step, and why gradients survive",
                       "한 단계의 야코비안과 기울기가 살아남는 이유"), text, (
        Step(r"\frac{\partial c_{t}}{\partial c_{t-1}}", J[("c", "c")], say(options, "The carousel:", "캐러셀 경로:")),
        Step(r"\frac{\partial c_{t}}{\partial h_{t-1}}", J[("c", "h")],
             say(options, "Through the gates of step $t$:", "$t$ 단계의 게이트를 거치는 경로:")),
        Step(r"\frac{\partial h_{t}}{\partial c_{t-1}}", J[("h", "c")],
             say(options, r"Through $c_t$ and $h_t = o_t \odot \tanh(c_t)$:",
                 r"$c_t$와 $h_t = o_t \odot \tanh(c_t)$를 거치는 경로:")),
        Step(r"\frac{\partial h_{t}}{\partial h_{t-1}}", J[("h", "h")],
             say(options, "Through all four gates:", "네 게이트를 모두 거치는 경로:")),
    ))



def document(der: Derivation, options) -> Document:
    sections = (model_section(der, options), adjoint_section(der, options), recurrences_section(der, options),
                jacobian_section(der, options), all_gradients_section(der, options), truncation_section(options))
    return Document(*der.heading(options), sections, tags=("deep-learning", "lstm", "bptt"))


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"A single-layer LSTM in PyTorch's equations and gate order $(i, f, g, o)$, a linear output "
                 r"layer and a squared loss summed over $T$ steps."),
        sizes=SIZES,
        keep=frozenset({"h", "c", *(f"a_{g}" for g in GATES)}),
        module_extras=torch_layout_source(GATES),
        build_document=document,
        extra_checks=tuple(jacobian_check(a, b) for a in ("c", "h") for b in ("c", "h")),
        torch_reference=torch_reference("LSTM", GATES, ("h0", "c0")),
        title_ko="LSTM: 셀 상태와 은닉 상태를 거치는 역전파",
        summary_ko=(r"PyTorch의 식과 게이트 순서 $(i, f, g, o)$를 그대로 따르는 단층 LSTM에 선형 출력층을 붙이고, "
                    r"$T$ 단계에 걸쳐 더한 제곱 손실로 학습하는 모델입니다."),
    )
