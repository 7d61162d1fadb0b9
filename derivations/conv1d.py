"""1-D convolution with channels, followed by a sigmoid (the notes' ``h_i = sigma(sum_j V_j x_{i+j-1})``):

    z[o,i] = sum_{c,p} w[o,c,p] x[c, S i + D p - P] + b[o],   h = sigma(z),   L = sum_{o,i} G[o,i] h[o,i]
"""
import sympy as sp

from symderive.document.document import Document, Step
from symderive.document.prose import say
from symderive.index.engine import Cases, IndexEngine
from symderive.index.program import Contract, IndexProgram, Pointwise, Tensor, Term
from symderive.index.render import index_latex
from symderive.pipeline import Derivation

from .convolution import (
    OC,
    C,
    conv_contract,
    conv_derived,
    conv_options,
    gradient_section,
    index_symbols,
    model_section,
    output_size_section,
    size_check,
    spatial,
)

TITLE = "1-D convolution with a sigmoid: the sliding kernel of the notes, with stride, padding, dilation"
AXES = spatial(1)
((N, K, S, P, D, ON, i, p),) = AXES

x = Tensor("x", (C, N))
w = Tensor("w", (OC, C, K))
b = Tensor("b", (OC,))
G = Tensor("G", (OC, ON))
z = Tensor("z", (OC, ON))
h = Tensor("h", (OC, ON))
L = Tensor("L", ())
o = index_symbols("o")[0]


def program() -> IndexProgram:
    conv = conv_contract(z, x, w, b, AXES)
    act = Pointwise(h, z, "sigmoid", (o, i))
    loss = Contract(L, (), (Term((G[o, i], h[o, i]), sums=((o, OC), (i, ON))),))
    return IndexProgram("conv1d", (conv, act, loss), (x, w, b, G), L)


def notes_form(conv: Contract, options=None) -> Step:
    """The notes' 1-based special case, by substitution: S = D = 1, P = 0, i -> i - 1, p -> j - 1, +1."""
    j = index_symbols("j")[0]
    read = conv.terms[0].factors[1].index[1]
    one_based = sp.expand(read.subs({S: 1, D: 1, P: 0}).subs({i: i - 1, p: j - 1}) + 1)
    rhs = rf"\sigma\left(\sum_{{j=1}}^{{K}} w_{{j}} x_{{{index_latex(one_based, (i, j))}}} + b\right)"
    return Step("h_{i}", rhs, say(options,
        r"With $S = D = 1$, $P = 0$, one channel and indices from 1 (positions and taps shifted by one), this is the "
        r"form the notes start from:",
        r"$S = D = 1$, $P = 0$, 채널 하나로 두고 인덱스를 1부터 세면(위치와 탭을 하나씩 옮기면), 많은 노트가 "
        r"출발점으로 삼는 식이 됩니다:"))


def document(der, options) -> Document:
    p_ = der.program
    conv, act, loss = p_.ops
    bw = der.backward
    sections = (
        model_section([conv, Step("h_{o, i}", r"\sigma\left(z_{o, i}\right)"), notes_form(conv, options), loss],
                      p_.arguments, options=options, text=say(options,
            r"A kernel of $K$ taps slides along the input; what deep learning calls convolution is this "
            r"cross-correlation (PyTorch's \texttt{conv1d}). $G$ is the gradient $\partial L/\partial h$ arriving from "
            r"above.",
            r"$K$개의 탭을 가진 커널이 입력을 따라 미끄러집니다. 딥러닝에서 컨볼루션이라고 부르는 것은 이 교차상관"
            r"(PyTorch의 \texttt{conv1d})입니다. $G$는 위에서 내려오는 기울기 $\partial L/\partial h$입니다.")),
        output_size_section(AXES, options),
        gradient_section(bw, z, {"G": "G", "h": "h"}, options),
        gradient_section(bw, w, {}, options),
        gradient_section(bw, b, {}, options),
        gradient_section(bw, x, {}, options),
        gradient_section(bw, G, {}, options),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "backpropagation", "convolution"))


def torch_reference(arrays, options, tag):
    import torch

    x_, w_, b_, g = (torch.tensor(arrays[k], requires_grad=True) for k in ("x", "w", "b", "G"))
    h_ = torch.sigmoid(torch.nn.functional.conv1d(x_[None], w_, b_, stride=options["stride"],
                                                  padding=options["padding"], dilation=options["dilation"])[0])
    (h_ * g).sum().backward()
    return {"x": x_.grad.numpy(), "w": w_.grad.numpy(), "b": b_.grad.numpy(), "G": h_.detach().numpy()}


def case(c, o_, n, k, s, pad, dil):
    return {C: c, OC: o_, N: n, K: k, S: s, P: pad, D: dil}


def build() -> Derivation:
    return Derivation(
        name="conv1d",
        title=TITLE,
        summary=(r"The 1-D convolution $h_i = \sigma(\sum_j w_j x_{S i + D j - P} + b)$ with channels, differentiated "
                 r"at index level: $\partial L/\partial w$ is a cross-correlation of the input with the upstream "
                 r"gradient, $\partial L/\partial x$ the full convolution of the (dilated) gradient with the flipped "
                 r"kernel."),
        title_ko="1차원 컨볼루션과 시그모이드: 보폭, 패딩, 팽창을 갖춘 슬라이딩 커널",
        summary_ko=(r"채널이 있는 1차원 컨볼루션 $h_i = \sigma(\sum_j w_j x_{S i + D j - P} + b)$를 인덱스 수준에서 "
                    r"미분합니다. $\partial L/\partial w$는 입력과 위에서 내려온 기울기의 교차상관이고, "
                    r"$\partial L/\partial x$는 (팽창한) 기울기와 뒤집은 커널의 풀 컨볼루션입니다."),
        engine=IndexEngine(
            variants=(("conv", program()),),
            options=conv_options(AXES),
            derived=conv_derived(AXES),
            shapes={"x": ("C", "N_in"), "w": ("O", "C", "K"), "b": ("O",), "G": ("O", "N_out")},
            sizes=Cases(symbolic=(case(2, 2, 7, 3, 2, 1, 1), case(1, 2, 7, 2, 1, 1, 2)),
                        numeric=(case(3, 4, 32, 3, 1, 0, 1), case(3, 4, 32, 3, 2, 1, 2), case(2, 3, 31, 4, 3, 2, 1))),
            module_doc=("Arrays: x (C, N_in), w (O, C, K), b (O), G (O, N_out); "
                        "keyword arguments stride=1, padding=0,\n"
                        "dilation=1. forward(...) gives z (the convolution) and h = sigmoid(z); loss = sum(G * h);\n"
                        "grad(...) returns dL/dx, dL/dw, dL/db, dL/dG.\n"),
        ),
        build_document=document,
        torch_reference=torch_reference,
        extra_checks=(size_check(1),),
    )
