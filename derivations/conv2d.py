"""2-D convolution with channels, stride, padding and dilation (PyTorch's ``conv2d``), checked in isolation:

    Y[o,i,j] = sum_{c,p,q} W[o,c,p,q] X[c, S_h i + D_h p - P_h, S_w j + D_w q - P_w] + b[o],
    L = sum_{o,i,j} G[o,i,j] Y[o,i,j]      (G: the upstream gradient dL/dY of the layer above)
"""
from symderive.document import Document
from symderive.indexed import Contract, IndexProgram, Tensor, Term
from symderive.pipeline import IndexDerivation

from .convolution import (C, O, conv_contract, conv_derived, conv_options, gradient_section, index_symbols,
                          model_section, output_size_section, size_check, spatial)

TITLE = "2-D convolution: channels, stride, padding, dilation; its gradients are convolutions"
AXES = spatial(2)
(H, KH, SH, PH, DH, OH, i, p), (Wd, KW, SW, PW, DW, OW, j, q) = AXES

X = Tensor("X", (C, H, Wd))
W = Tensor("W", (O, C, KH, KW))
b = Tensor("b", (O,))
G = Tensor("G", (O, OH, OW))
Y = Tensor("Y", (O, OH, OW))
L = Tensor("L", ())


def program() -> IndexProgram:
    o = index_symbols("o")[0]
    conv = conv_contract(Y, X, W, b, AXES)
    loss = Contract(L, (), (Term((G[o, i, j], Y[o, i, j]), sums=((o, O), (i, OH), (j, OW))),))
    return IndexProgram("conv2d", (conv, loss), (X, W, b, G), L)


def document(der, options) -> Document:
    p = der.program
    conv, loss = p.ops
    bw = der.backward
    sections = (
        model_section([conv, loss], p.arguments, text=(
            r"This is a cross-correlation (the kernel is not flipped), as in PyTorch's \texttt{conv2d}; each of the "
            r"$O$ kernels has as many channels as the input and gives one output channel. $G$ stands for the gradient "
            r"$\partial L / \partial Y$ arriving from the layers above, so the layer can be checked on its own.")),
        output_size_section(AXES),
        gradient_section(bw, W, {}),
        gradient_section(bw, b, {}),
        gradient_section(bw, X, {}),
        gradient_section(bw, G, {}),
    )
    return Document(der.title, der.summary, sections, tags=("deep-learning", "backpropagation", "convolution", "cnn"))


def torch_reference(arrays, options, tag):
    import torch

    x, w, b_, g = (torch.tensor(arrays[k], requires_grad=True) for k in "XWbG")
    y = torch.nn.functional.conv2d(x[None], w, b_, stride=options["stride"], padding=options["padding"],
                                   dilation=options["dilation"])[0]
    (y * g).sum().backward()
    return {"X": x.grad.numpy(), "W": w.grad.numpy(), "b": b_.grad.numpy(), "G": y.detach().numpy()}


def case(c, o, h, w, k, s, pad, dil):
    return {C: c, O: o, H: h, Wd: w, KH: k, KW: k, SH: s, SW: s, PH: pad, PW: pad, DH: dil, DW: dil}


def build() -> IndexDerivation:
    return IndexDerivation(
        name="conv2d",
        title=TITLE,
        summary=(r"A 2-D convolution layer $Y = W \star X + b$ with $C$ input and $O$ output channels, stride, padding "
                 r"and dilation, differentiated at index level: the Kronecker deltas of the chain rule are summed away, "
                 r"and the results are recognised as a cross-correlation ($\partial L/\partial W$) and a full "
                 r"convolution with the flipped kernel ($\partial L/\partial X$)."),
        variants=(("conv", program()),),
        build_document=document,
        options=conv_options(AXES),
        derived=conv_derived(AXES),
        shapes={"X": ("C", "H_in", "W_in"), "W": ("O", "C", "K_h", "K_w"), "b": ("O",), "G": ("O", "H_out", "W_out")},
        symbolic_cases=(case(2, 2, 5, 5, 3, 2, 1, 1), case(1, 2, 5, 5, 2, 1, 1, 2)),
        numeric_cases=(case(3, 4, 16, 16, 3, 1, 0, 1), case(3, 4, 16, 16, 3, 2, 1, 1), case(3, 4, 16, 16, 3, 2, 1, 2),
                       {**case(3, 4, 16, 15, 3, 1, 0, 1), KW: 2, SW: 3, PH: 2, DW: 2}),
        torch_reference=torch_reference,
        extra_checks=(size_check(2),),
        module_doc=("Arrays: X (C, H_in, W_in), W (O, C, K_h, K_w), b (O), G (O, H_out, W_out); keyword arguments\n"
                    "stride=1, padding=0, dilation=1 (an int or a pair). forward(...)['Y'] is the convolution,\n"
                    "loss = sum(G * Y), grad(...) returns dL/dX, dL/dW, dL/db, dL/dG.\n"),
    )
