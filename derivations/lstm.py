"""An LSTM in PyTorch's documented equations and gate order (i, f, g, o), with a linear output layer:

    i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)       o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                          h_t = o_t ⊙ tanh(c_t)
    yhat_t = W_hy h_t + b_y,   L = sum_t 1/2 ||yhat_t - y_t||^2,   h_0, c_0 given.
"""
import sympy as sp

from derivations.gated import (H, all_gradients_section, d, output_layer, q, torch_layout_source, torch_reference,
                               truncation_section, weights)
from symderive.derive import state_jacobian
from symderive.document import Document, Section, Step
from symderive.expr import T, TimeVar, hadamard, sigma, t, tanh
from symderive.model import Assign, Program
from symderive.pipeline import Derivation, Sizes
from symderive.sections import adjoint_section, model_section, recurrence_steps, tex
from symderive.verify import jacobian_check

TITLE = "LSTM: backpropagation through the cell and the hidden state"
GATES = "ifgo"
ACTIVATION = {"i": sigma, "f": sigma, "g": tanh, "o": sigma}


def program() -> Program:
    W_i, W_h, b_i, b_h = weights(GATES)
    x, h, c = TimeVar("x", t, d), TimeVar("h", t, H), TimeVar("c", t, H)
    gate = {g: TimeVar(g, t, H) for g in GATES}
    assignments = []
    for k, g in enumerate(GATES):
        pre = TimeVar(f"a_{g}", t, H)
        assignments += [Assign(pre, W_i[k] * x + b_i[k] + W_h[k] * h.at(t - 1) + b_h[k]),
                        Assign(gate[g], ACTIVATION[g](pre))]
    assignments += [Assign(c, hadamard(gate["f"], c.at(t - 1)) + hadamard(gate["i"], gate["g"])),
                    Assign(h, hadamard(gate["o"], tanh(c)))]
    (W_hy, b_y), y, out, loss = output_layer(h)
    h0, c0 = sp.MatrixSymbol("h0", H, 1), sp.MatrixSymbol("c0", H, 1)
    return Program(
        name="lstm",
        assignments=(*assignments, out),
        params=(*W_i, *W_h, *b_i, *b_h, W_hy, b_y),
        inputs=(x, y),
        loss=loss,
        states={"h": h0, "c": c0},
        latex_names={"yhat": r"\hat{y}", "d_h": r"\delta^{h}", "d_c": r"\delta^{c}"},
    )


def recurrences_section(der, options) -> Section:
    return Section("The two adjoint recurrences", (
        r"Both states are recurrent, so each adjoint depends on the next step's. Written through "
        r"$\delta^h_t = \partial L / \partial h_t$ and $\delta^c_t = \partial L / \partial c_t$ only:"), (
        *recurrence_steps(der, options, "c", r"The cell state reaches the loss through $h_t$ and, with the forget "
                        r"gate as its only factor, through $c_{t+1}$: $\partial L/\partial c_{t-1}$ gets "
                        r"$\delta^c_t \odot f_t$ plus the path through $h_t$."),
        *recurrence_steps(der, options, "h", r"The hidden state reaches the loss through the output layer and "
                        r"through the four gates of step $t+1$."),
    ))


def jacobian_section(der, options) -> Section:
    p = der.program
    J = {(a, b): tex(der, options, state_jacobian(p, a, b)) for a in ("c", "h") for b in ("c", "h")}
    text = (r"One step maps $(h_{t-1}, c_{t-1})$ to $(h_t, c_t)$. The vanilla RNN has only "
            r"$\partial h_t / \partial h_{t-1} = \operatorname{diag}(1 - h_t \odot h_t)\, W_{hh}$, and a product of "
            r"many such factors shrinks or grows geometrically. The LSTM's cell state has a direct path whose "
            r"Jacobian is just the forget gate, with no weight matrix and no squashing derivative: when "
            r"$f_t \approx 1$ the product $\prod_j \operatorname{diag}(f_j)$ stays close to the identity and the "
            r"gradient is carried over many steps (the constant error carousel).")
    return Section("Jacobians of one step, and why gradients survive", text, (
        Step(r"\frac{\partial c_{t}}{\partial c_{t-1}}", J[("c", "c")], "The carousel:"),
        Step(r"\frac{\partial c_{t}}{\partial h_{t-1}}", J[("c", "h")], "Through the gates of step $t$:"),
        Step(r"\frac{\partial h_{t}}{\partial c_{t-1}}", J[("h", "c")], r"Through $c_t$ and $h_t = o_t \odot \tanh(c_t)$:"),
        Step(r"\frac{\partial h_{t}}{\partial h_{t-1}}", J[("h", "h")], "Through all four gates:"),
    ))


def document(der: Derivation, options) -> Document:
    sections = (model_section(der, options), adjoint_section(der, options), recurrences_section(der, options),
                jacobian_section(der, options), all_gradients_section(der, options), truncation_section(options))
    return Document(der.title, der.summary, sections, tags=("deep-learning", "lstm", "bptt"))


def build() -> Derivation:
    return Derivation(
        name="lstm",
        title=TITLE,
        summary=(r"A single-layer LSTM in PyTorch's equations and gate order $(i, f, g, o)$, a linear output "
                 r"layer and a squared loss summed over $T$ steps."),
        program=program(),
        build_document=document,
        sizes=Sizes(small={H: 2, d: 2, q: 1, T: 3}, numeric={H: 16, d: 8, q: 4, T: 20},
                    large={H: 64, d: 32, q: 8, T: 50}),
        keep=frozenset({"h", "c", *(f"a_{g}" for g in GATES)}),
        extra_checks=tuple(jacobian_check(a, b) for a in ("c", "h") for b in ("c", "h")),
        torch_reference=torch_reference("LSTM", GATES, ("h0", "c0")),
        module_extras=torch_layout_source(GATES),
    )
