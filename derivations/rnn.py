"""Backpropagation through time for a vanilla RNN (column vectors, as in PyTorch and d2l):

    z_t = W_hh h_{t-1} + W_xh x_t + b_h,   h_t = tanh(z_t),   o_t = W_hy h_t + b_y,
    L = sum_{t=1}^{T} 1/2 ||o_t - y_t||^2,  h_0 given.
"""
import numpy as np
import sympy as sp

from symderive import evaluate as ev
from symderive.pipeline import Derivation, Sizes
from symderive.derive import state_jacobian
from symderive.document import Document, Section, Step
from symderive.expr import SquaredNorm, T, TimeVar, t, tanh
from symderive.model import Assign, Program
from symderive.sections import adjoint_section, carried_and_seed, gradient_step, model_section, tex
from symderive.verify import Row, compare, jacobian_check, random_arguments

n, d, q = sp.symbols("n d q", integer=True, positive=True)
j = sp.Symbol("j", integer=True)


TITLE = "Backpropagation through time for a vanilla RNN"


def program() -> Program:
    W_hh, W_xh, b_h = sp.MatrixSymbol("W_hh", n, n), sp.MatrixSymbol("W_xh", n, d), sp.MatrixSymbol("b_h", n, 1)
    W_hy, b_y, h0 = sp.MatrixSymbol("W_hy", q, n), sp.MatrixSymbol("b_y", q, 1), sp.MatrixSymbol("h0", n, 1)
    x, y = TimeVar("x", t, d), TimeVar("y", t, q)
    z, h, o = TimeVar("z", t, n), TimeVar("h", t, n), TimeVar("o", t, q)
    return Program(
        name="rnn",
        assignments=(Assign(z, W_hh * h.at(t - 1) + W_xh * x + b_h), Assign(h, tanh(z)), Assign(o, W_hy * h + b_y)),
        params=(W_hh, W_xh, b_h, W_hy, b_y),
        inputs=(x, y),
        loss=sp.Rational(1, 2) * SquaredNorm(o - y),
        states={"h": h0},
        latex_names={"d_h": r"\delta"},
    )


# ---------------------------------------------------------------------------------------------
# The document.


def own_share(der) -> sp.MatrixExpr:
    r"""``W_{hy}^\top (o_t - y_t)``: the share of dL/dh_t from the loss of step t itself."""
    return sp.MatAdd(*carried_and_seed(der, "h")[0]).doit()


def seed_latex(der, options, at=t) -> str:
    return tex(der, options, own_share(der).xreplace({t: at}))


def recurrence_section(der, options) -> Section:
    K = options.truncate
    carried = sp.MatAdd(*carried_and_seed(der, "h")[1]).doit()
    delta = r"\delta_{t}" + (r"^{(K)}" if K else "")
    carried_tex = tex(der, options, carried)
    if K:
        carried_tex = carried_tex.replace(r"\delta_{t+1}", r"\delta_{t+1}^{(K)}")
    seed = seed_latex(der, options)
    if K and options.truncate_mode == "blocks":
        rhs = (rf"\begin{{cases}} {seed} + {carried_tex} & t < T,\ t \bmod K \neq 0 \\ "
               rf"{seed} & t = T \text{{ or }} t \bmod K = 0 \end{{cases}}")
        why = (rf"Truncated in blocks of $K = {K}$ steps: the state entering each block is held constant, so "
               r"no share crosses from step $t+1$ into step $t$ when $t$ ends a block.")
    else:
        rhs = (rf"\begin{{cases}} {seed} + {carried_tex} & 1 \le t < T \\ "
               rf"{seed_latex(der, options, T)} & t = T \end{{cases}}")
        why = (r"Substituting $\bar o_t$ and $\bar z_{t+1}$ into the adjoint of $h_t$. The loss of step $t$ "
               r"reaches $h_t$ directly, and every later loss reaches it through $h_{t+1}$; step $T+1$ does not "
               r"exist, so the recurrence starts from $\delta_T$ without that term.")
    return Section("The adjoint recurrence", "", (Step(rf"{delta} = \frac{{\partial L}}{{\partial h_{{t}}}}", rhs, why),))


def jacobian_section(der, options) -> Section:
    J = state_jacobian(der.program, "h", "h").xreplace({t: j})
    seed = seed_latex(der, options)
    product = r"\Big(\prod_{j=i+1}^{t} \frac{\partial h_{j}}{\partial h_{j-1}}\Big)^{\top}"
    steps = (
        Step(r"\frac{\partial h_{j}}{\partial h_{j-1}}", tex(der, options, J),
             r"$h_j = \tanh(W_{hh} h_{j-1} + W_{xh} x_j + b_h)$: the chain rule through $\tanh$ (elementwise, "
             r"so a diagonal matrix) and the linear map $W_{hh}$."),
        Step(r"\delta_{i} = \frac{\partial L}{\partial h_{i}}", rf"\sum_{{t=i}}^{{T}} {product} {seed}",
             r"Unrolling the recurrence: the loss of step $t \ge i$ reaches $h_i$ through the chain "
             r"$h_i \to h_{i+1} \to \dots \to h_t$, whose Jacobian is the product, ordered with $j = t$ on "
             r"the left and $j = i+1$ on the right (the empty product, $t = i$, is the identity)."),
    )
    text = (r"The product of $t - i$ Jacobians $\operatorname{diag}(1 - h_j \odot h_j)\, W_{hh}$ is why "
            r"gradients vanish or explode over long distances: its norm behaves like a power of the largest "
            r"singular value of $W_{hh}$ damped by the $\tanh$ derivatives, which are at most $1$.")
    return Section("The hidden-state Jacobian and the BPTT product", text, steps)


def general_form_section(der, options) -> Section:
    f = lambda k, h: rf"f(x_{{{k}}}, h_{{{h}}}, w_h)"  # noqa: E731
    full = (rf"\frac{{\partial {f('t', 't-1')}}}{{\partial w_h}} + \sum_{{i=1}}^{{t-1}} "
            rf"\Big(\prod_{{j=i+1}}^{{t}} \frac{{\partial {f('j', 'j-1')}}}{{\partial h_{{j-1}}}}\Big) "
            rf"\frac{{\partial {f('i', 'i-1')}}}{{\partial w_h}}")
    J = tex(der, options, state_jacobian(der.program, "h", "h").xreplace({t: j}))
    text = (r"For any cell $h_t = f(x_t, h_{t-1}, w_h)$ (as d2l.ai writes it), the total derivative of a "
            r"state with respect to the weights collects one term per earlier step:")
    return Section("The general form", text, (
        Step(r"\frac{\partial h_{t}}{\partial w_h}", full),
        Step(r"\frac{\partial f(x_j, h_{j-1}, w_h)}{\partial h_{j-1}}", J, "For the vanilla RNN the factor in the product is the Jacobian above:"),
    ))


def truncation_section(der, options) -> Section:
    seed = seed_latex(der, options)
    product = r"\Big(\prod_{j=i+1}^{t} \frac{\partial h_{j}}{\partial h_{j-1}}\Big)^{\top}"
    K = options.truncate or "K"
    modes = [options.truncate_mode] if options.truncate else ["blocks", "window"]
    steps = []
    if "blocks" in modes:
        steps += [
            Step(r"\delta_{i} - \delta_{i}^{(K)}", rf"\sum_{{t=b_i+1}}^{{T}} {product} {seed}",
                 rf"Blocks ($K = {K}$): steps $1..T$ are split into consecutive blocks of $K$ steps and the state "
                 r"entering a block is held constant (detached), so each block is back-propagated on its own. "
                 r"With $b_i = \min(K \lceil i/K \rceil, T)$ the last step of $h_i$'s block, what is dropped is every "
                 r"later loss:"),
        ]
    if "window" in modes:
        steps += [
            Step(r"\delta_{i} - \delta_{i}^{(K)}", rf"\sum_{{t=i+K}}^{{T}} {product} {seed}",
                 rf"Window ($K = {K}$, d2l's regular truncation): the loss of step $t$ back-propagates through "
                 r"its $K$ most recent states $h_t, \dots, h_{t-K+1}$ only, so the losses $K$ or more steps "
                 r"after $h_i$ are dropped:"),
        ]
    text = (r"Truncation replaces $\delta_t$ by $\delta_t^{(K)}$ in every parameter gradient below; "
            r"$K \ge T$ is full BPTT in both kinds.")
    return Section("Truncated BPTT", text, tuple(steps))


def parameter_section(der, options) -> Section:
    grads = der.backward.adjoint_of
    names = ("W_hh", "W_xh", "b_h", "h0", "x")
    steps = [gradient_step(der, options, grads[name]) for name in names]
    text = (r"The weights are used at every step, so their gradients sum one share per step, written "
            r"through $\delta_t \odot (1 - h_t \odot h_t) = \partial L / \partial z_t$.")
    if options.truncate:
        text += rf" With truncation ($K = {options.truncate}$, {options.truncate_mode}), read $\delta_t^{{(K)}}$ for $\delta_t$."
    return Section("Gradients of the hidden layer", text, tuple(steps))


def document(der: Derivation, options) -> Document:
    grads = der.backward.adjoint_of
    sections = (
        model_section(der, options),
        adjoint_section(der, options),
        Section("Gradients of the output layer", r"Each step's output error $o_t - y_t$ is used once per step.",
                tuple(gradient_step(der, options, grads[name]) for name in ("W_hy", "b_y"))),
        recurrence_section(der, options),
        jacobian_section(der, options),
        parameter_section(der, options),
        general_form_section(der, options),
        truncation_section(der, options),
    )
    return Document(der.title, der.summary, sections, tags=("deep-learning", "rnn", "bptt"))


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
    params = {"weight_ih_l0": a["W_xh"], "weight_hh_l0": a["W_hh"], "bias_ih_l0": a["b_h"], "bias_hh_l0": rnn.bias_hh_l0}
    hs, _ = torch.func.functional_call(rnn, params, (a["x"], a["h0"][None, :]))
    o = hs @ a["W_hy"].T + a["b_y"]
    (0.5 * ((o - a["y"]) ** 2).sum()).backward()
    return {k: v.grad.numpy() for k, v in a.items()}


def build() -> Derivation:
    return Derivation(
        name="rnn",
        title=TITLE,
        summary=(r"A vanilla RNN with a $\tanh$ hidden layer and a linear output, trained with a squared "
                 r"loss summed over $T$ steps; column-vector convention as in PyTorch and d2l.ai."),
        program=program(),
        build_document=document,
        sizes=Sizes(small={n: 2, d: 2, q: 1, T: 3}, numeric={n: 16, d: 8, q: 4, T: 20},
                    large={n: 64, d: 32, q: 8, T: 50}),
        keep=frozenset({"h"}),
        extra_checks=(jacobian_check("h", "h"), closed_form_check),
        torch_reference=torch_reference,
    )


__all__ = ["build", "program", "random_arguments"]
