"""A GRU in PyTorch's documented equations and gate order (r, z, n), with a linear output layer:

    r_t = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      z_t = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    yhat_t = W_hy h_t + b_y,   L = sum_t 1/2 ||yhat_t - y_t||^2,   h_0 given.
"""
import sympy as sp

from symderive import Derivation, Model, derive, hadamard, ones_like, sigmoid, tanh
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
from symderive.matrix.sections import (
    adjoint_section,
    gradient_step,
    model_section,
    recurrence_steps,
    tex,
    truncation_section,
)
from symderive.model import TimeVar, t
from symderive.verify.matrix_checks import jacobian_check

TITLE = "GRU: backpropagation through the gates"
GATES = "rzn"


def model() -> Model:
    m = Model("gru", latex_names={"yhat": r"\hat{y}", "d_h": r"\delta"})
    (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn), (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = weights(m, GATES)
    x = m.sequence("x", d)
    h = m.state("h", H)
    prev = h.prev
    r = m.let("r", sigmoid(m.let("a_r", W_ir @ x + b_ir + W_hr @ prev + b_hr)))
    z = m.let("z", sigmoid(m.let("a_z", W_iz @ x + b_iz + W_hz @ prev + b_hz)))
    n = m.let("n", tanh(m.let("a_n", W_in @ x + b_in + hadamard(r, W_hn @ prev + b_hn))))
    m.let(h, hadamard(ones_like(z) - z, n) + hadamard(z, prev))
    output_layer(m, h)
    return m


def hidden_part(der) -> sp.MatrixExpr:
    """``W_hn h_{t-1} + b_hn``: the part of the candidate's pre-activation the reset gate multiplies."""
    return sp.MatrixSymbol("W_hn", H, H) * TimeVar("h", t - 1, H) + sp.MatrixSymbol("b_hn", H, 1)


def subtlety_section(der, options) -> Section:
    grads = der.backward.adjoint_of
    inner = tex(der, options, hidden_part(der))
    return Section(
        say(options, "A subtlety: the two biases of the candidate", "미묘한 점: 후보 상태의 두 편향"), say(options,
        rf"PyTorch puts $b_{{hn}}$ inside the reset gate's product, $r_t \odot ({inner})$, and "
        r"$b_{in}$ outside it. So the two biases of $n_t$ get different gradients: $b_{in}$ receives "
        r"$\bar a_{n,t}$ itself, $b_{hn}$ receives it filtered by the reset gate.",
        rf"PyTorch는 $b_{{hn}}$을 리셋 게이트와의 곱 $r_t \odot ({inner})$ 안에 넣고, $b_{{in}}$은 그 바깥에 둡니다. "
        r"그래서 $n_t$의 두 편향은 기울기가 서로 다릅니다. $b_{in}$은 $\bar a_{n,t}$를 그대로 받고, $b_{hn}$은 "
        r"리셋 게이트를 한 번 거친 값을 받습니다."),
        (gradient_step(der, options, grads["b_in"]), gradient_step(der, options, grads["b_hn"])))


def jacobian_section(der, options) -> Section:
    J = tex(der, options, state_jacobian(der.program, "h", "h"))
    vanilla = vanilla_jacobian(options, "j")
    text = say(options,
               r"The update gate mixes the old state into the new one directly: the term "
               r"$\operatorname{diag}(z_t)$ has no weight matrix and no squashing derivative, so when $z_t \approx 1$ "
               r"the product of Jacobians over time stays close to the identity, where the vanilla RNN's "
               rf"$\prod_j {vanilla}$ shrinks or grows geometrically.",
               r"업데이트 게이트는 이전 상태를 새 상태에 곧바로 섞습니다. $\operatorname{diag}(z_t)$ 항에는 가중치 "
               r"행렬도, 값을 눌러 주는 활성화 함수의 도함수도 없습니다. 그래서 $z_t \approx 1$이면 시간에 걸친 "
               rf"야코비안의 곱이 항등행렬 가까이 머뭅니다. 기본 RNN의 $\prod_j {vanilla}$가 기하급수적으로 줄거나 "
               r"커지는 것과 대조적입니다.")
    return Section(say(options, "The Jacobian of one step, and why gradients survive",
                       "한 단계의 야코비안과 기울기가 살아남는 이유"), text,
                   (Step(r"\frac{\partial h_{t}}{\partial h_{t-1}}", J),))


def document(der: Derivation, options) -> Document:
    sections = (
        model_section(der, options), adjoint_section(der, options),
        Section(say(options, "The adjoint recurrence", "수반 점화식"), "",
                (*recurrence_steps(der, options, "h", say(options,
            r"The state reaches the loss through the output layer, and through step $t+1$ both directly "
            r"(the $z_{t+1} \odot h_t$ term) and through the three gates.",
            r"상태는 출력층을 거쳐 손실에 닿고, $t+1$ 단계를 통해서도 닿습니다. 이때 $z_{t+1} \odot h_t$ 항으로 곧바로 "
            r"가는 길과 세 게이트를 거치는 길이 모두 있습니다.")),)),
        jacobian_section(der, options), all_gradients_section(der, options), subtlety_section(der, options),
        truncation_section(options),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "gru", "bptt"))


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"A single-layer GRU in PyTorch's equations and gate order $(r, z, n)$, a linear output layer "
                 r"and a squared loss summed over $T$ steps."),
        sizes=SIZES,
        keep=frozenset({"h", "a_r", "a_z", "a_n"}),
        module_extras=torch_layout_source(GATES),
        build_document=document,
        extra_checks=(jacobian_check("h", "h"),),
        torch_reference=torch_reference("GRU", GATES, ("h0",)),
        title_ko="GRU: 업데이트 게이트와 리셋 게이트를 거치는 역전파",
        summary_ko=(r"PyTorch의 식과 게이트 순서 $(r, z, n)$를 그대로 따르는 단층 GRU에 선형 출력층을 붙이고, "
                    r"$T$ 단계에 걸쳐 더한 제곱 손실로 학습하는 모델입니다."),
    )
