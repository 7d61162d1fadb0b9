"""A GRU in PyTorch's documented equations and gate order (r, z, n), with a linear output layer:

    r_t = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      z_t = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    yhat_t = W_hy h_t + b_y,   L = sum_t 1/2 ||yhat_t - y_t||^2,   h_0 given.
"""
import sympy as sp

from derivations.gated import (H, all_gradients_section, d, output_layer, q, torch_layout_source, torch_reference,
                               truncation_section, weights)
from symderive.derive import state_jacobian
from symderive.document import Document, Section, Step
from symderive.expr import T, TimeVar, hadamard, ones, sigma, t, tanh
from symderive.model import Assign, Program
from symderive.pipeline import Derivation, Sizes
from symderive.sections import adjoint_section, gradient_step, model_section, recurrence_steps, tex
from symderive.verify import jacobian_check

TITLE = "GRU: backpropagation through the gates"
GATES = "rzn"


def program() -> Program:
    (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn), (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = weights(GATES)
    x, h = TimeVar("x", t, d), TimeVar("h", t, H)
    a_r, a_z, a_n = (TimeVar(f"a_{g}", t, H) for g in GATES)
    r, z, n = (TimeVar(g, t, H) for g in GATES)
    prev = h.at(t - 1)
    assignments = (
        Assign(a_r, W_ir * x + b_ir + W_hr * prev + b_hr), Assign(r, sigma(a_r)),
        Assign(a_z, W_iz * x + b_iz + W_hz * prev + b_hz), Assign(z, sigma(a_z)),
        Assign(a_n, W_in * x + b_in + hadamard(r, W_hn * prev + b_hn)), Assign(n, tanh(a_n)),
        Assign(h, hadamard(ones(z) - z, n) + hadamard(z, prev)),
    )
    (W_hy, b_y), y, out, loss = output_layer(h)
    return Program(
        name="gru",
        assignments=(*assignments, out),
        params=(W_ir, W_iz, W_in, W_hr, W_hz, W_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn, W_hy, b_y),
        inputs=(x, y),
        loss=loss,
        states={"h": sp.MatrixSymbol("h0", H, 1)},
        latex_names={"yhat": r"\hat{y}", "d_h": r"\delta"},
    )


def subtlety_section(der, options) -> Section:
    grads = der.backward.adjoint_of
    return Section("A subtlety: the two biases of the candidate", (
        r"PyTorch puts $b_{hn}$ inside the reset gate's product, $r_t \odot (W_{hn} h_{t-1} + b_{hn})$, and "
        r"$b_{in}$ outside it. So the two biases of $n_t$ get different gradients: $b_{in}$ receives "
        r"$\bar a_{n,t}$ itself, $b_{hn}$ receives it filtered by the reset gate."),
        (gradient_step(der, options, grads["b_in"]), gradient_step(der, options, grads["b_hn"])))


def jacobian_section(der, options) -> Section:
    J = tex(der, options, state_jacobian(der.program, "h", "h"))
    text = (r"The update gate mixes the old state into the new one directly: the term "
            r"$\operatorname{diag}(z_t)$ has no weight matrix and no squashing derivative, so when $z_t \approx 1$ "
            r"the product of Jacobians over time stays close to the identity, where the vanilla RNN's "
            r"$\prod_j \operatorname{diag}(1 - h_j \odot h_j)\, W_{hh}$ shrinks or grows geometrically.")
    return Section("The Jacobian of one step, and why gradients survive", text,
                   (Step(r"\frac{\partial h_{t}}{\partial h_{t-1}}", J),))


def document(der: Derivation, options) -> Document:
    sections = (
        model_section(der, options), adjoint_section(der, options),
        Section("The adjoint recurrence", "", (*recurrence_steps(der, options, "h", (
            r"The state reaches the loss through the output layer, and through step $t+1$ both directly "
            r"(the $z_{t+1} \odot h_t$ term) and through the three gates.")),)),
        jacobian_section(der, options), all_gradients_section(der, options), subtlety_section(der, options),
        truncation_section(options),
    )
    return Document(der.title, der.summary, sections, tags=("deep-learning", "gru", "bptt"))


def build() -> Derivation:
    return Derivation(
        name="gru",
        title=TITLE,
        summary=(r"A single-layer GRU in PyTorch's equations and gate order $(r, z, n)$, a linear output layer "
                 r"and a squared loss summed over $T$ steps."),
        program=program(),
        build_document=document,
        sizes=Sizes(small={H: 2, d: 2, q: 1, T: 3}, numeric={H: 16, d: 8, q: 4, T: 20},
                    large={H: 64, d: 32, q: 8, T: 50}),
        keep=frozenset({"h", "a_r", "a_z", "a_n"}),
        extra_checks=(jacobian_check("h", "h"),),
        torch_reference=torch_reference("GRU", GATES, ("h0",)),
        module_extras=torch_layout_source(GATES),
    )
