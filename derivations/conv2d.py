"""2-D convolution with channels, stride, padding and dilation (PyTorch's ``conv2d``), checked in isolation:

    Y[o,i,j] = sum_{c,p,q} W[o,c,p,q] X[c, S_h i + D_h p - P_h, S_w j + D_w q - P_w] + b[o],
    L = sum_{o,i,j} G[o,i,j] Y[o,i,j]      (G: the upstream gradient dL/dY of the layer above)
"""
from symderive.document.document import Document
from symderive.document.prose import say
from symderive.index.engine import Cases, IndexEngine
from symderive.index.program import Contract, IndexProgram, Tensor, Term
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

TITLE = "2-D convolution: channels, stride, padding, dilation; its gradients are convolutions"
AXES = spatial(2)
(H, KH, SH, PH, DH, OH, i, p), (Wd, KW, SW, PW, DW, OW, j, q) = AXES

X = Tensor("X", (C, H, Wd))
W = Tensor("W", (OC, C, KH, KW))
b = Tensor("b", (OC,))
G = Tensor("G", (OC, OH, OW))
Y = Tensor("Y", (OC, OH, OW))
L = Tensor("L", ())


def program() -> IndexProgram:
    o = index_symbols("o")[0]
    conv = conv_contract(Y, X, W, b, AXES)
    loss = Contract(L, (), (Term((G[o, i, j], Y[o, i, j]), sums=((o, OC), (i, OH), (j, OW))),))
    return IndexProgram("conv2d", (conv, loss), (X, W, b, G), L)


def document(der, options) -> Document:
    p = der.program
    conv, loss = p.ops
    bw = der.backward
    sections = (
        model_section([conv, loss], p.arguments, options=options, text=say(options,
            r"This is a cross-correlation (the kernel is not flipped), as in PyTorch's \texttt{conv2d}; each of the "
            r"$O$ kernels has as many channels as the input and gives one output channel. $G$ stands for the gradient "
            r"$\partial L / \partial Y$ arriving from the layers above, so the layer can be checked on its own.",
            r"딥러닝에서 말하는 컨볼루션은 PyTorch의 \texttt{conv2d}처럼 커널을 뒤집지 않는 교차상관입니다. $O$개의 "
            r"커널은 각각 입력과 같은 수의 채널을 가지며, 커널 하나가 출력 채널 하나를 만듭니다. $G$는 위층에서 "
            r"내려오는 기울기 $\partial L / \partial Y$를 나타내므로, 이 층만 따로 떼어 검증할 수 있습니다.")),
        output_size_section(AXES, options),
        gradient_section(bw, W, {}, options),
        gradient_section(bw, b, {}, options),
        gradient_section(bw, X, {}, options),
        gradient_section(bw, G, {}, options),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "backpropagation", "convolution", "cnn"))


def torch_reference(arrays, options, tag):
    import torch

    x, w, b_, g = (torch.tensor(arrays[k], requires_grad=True) for k in "XWbG")
    y = torch.nn.functional.conv2d(x[None], w, b_, stride=options["stride"], padding=options["padding"],
                                   dilation=options["dilation"])[0]
    (y * g).sum().backward()
    return {"X": x.grad.numpy(), "W": w.grad.numpy(), "b": b_.grad.numpy(), "G": y.detach().numpy()}


def case(c, o, h, w, k, s, pad, dil):
    return {C: c, OC: o, H: h, Wd: w, KH: k, KW: k, SH: s, SW: s, PH: pad, PW: pad, DH: dil, DW: dil}


def build() -> Derivation:
    return Derivation(
        name="conv2d",
        title=TITLE,
        summary=(r"A 2-D convolution layer $Y = W \star X + b$ with $C$ input and $O$ output channels, stride, padding "
                 r"and dilation, differentiated at index level: the Kronecker deltas of the chain rule are summed "
                 r"away, and the results are recognised as a cross-correlation ($\partial L/\partial W$) and a full "
                 r"convolution with the flipped kernel ($\partial L/\partial X$)."),
        title_ko="2차원 컨볼루션: 채널, 보폭, 패딩, 팽창. 기울기도 컨볼루션이다",
        summary_ko=(r"입력 채널 $C$개, 출력 채널 $O$개에 보폭, 패딩, 팽창을 갖춘 2차원 컨볼루션 층 "
                    r"$Y = W \star X + b$를 인덱스 수준에서 미분합니다. 연쇄 법칙에서 생기는 크로네커 델타를 합으로 "
                    r"없애고, 결과가 교차상관($\partial L/\partial W$)과 뒤집은 커널의 풀 "
                    r"컨볼루션($\partial L/\partial X$)임을 확인합니다."),
        engine=IndexEngine(
            variants=(("conv", program()),),
            options=conv_options(AXES),
            derived=conv_derived(AXES),
            shapes={"X": ("C", "H_in", "W_in"), "W": ("O", "C", "K_h", "K_w"), "b": ("O",),
                    "G": ("O", "H_out", "W_out")},
            sizes=Cases(symbolic=(case(2, 2, 5, 5, 3, 2, 1, 1), case(1, 2, 5, 5, 2, 1, 1, 2)),
                        numeric=(case(3, 4, 16, 16, 3, 1, 0, 1), case(3, 4, 16, 16, 3, 2, 1, 1),
                                 case(3, 4, 16, 16, 3, 2, 1, 2),
                                 {**case(3, 4, 16, 15, 3, 1, 0, 1), KW: 2, SW: 3, PH: 2, DW: 2})),
            module_doc=("Arrays: X (C, H_in, W_in), W (O, C, K_h, K_w), b (O), G (O, H_out, W_out); keyword arguments\n"
                        "stride=1, padding=0, dilation=1 (an int or a pair). forward(...)['Y'] is the convolution,\n"
                        "loss = sum(G * Y), grad(...) returns dL/dX, dL/dW, dL/db, dL/dG.\n"),
        ),
        build_document=document,
        torch_reference=torch_reference,
        extra_checks=(size_check(2),),
    )
