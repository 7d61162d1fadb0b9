"""A small CNN classifier: conv2d -> ReLU -> max pooling -> flatten -> dense -> softmax cross-entropy.

    Z[o,i,j] = sum_{c,p,q} W[o,c,p,q] X[c, S_h i + D_h p - P_h, S_w j + D_w q - P_w] + b[o]
    A = relu(Z),   Pm[o,i,j] = max_{r,s} A[o, K_p i + r, K_p j + s]
    z[k] = sum_{o,i,j} V[k,o,i,j] Pm[o,i,j] + beta[k]          (flatten + dense: V is the dense weight
                                                                  V.reshape(N, -1) of the flattened features)
    L = -sum_k y_k log softmax(z)_k                              (y one-hot; the module also takes a class index)
"""

from symderive.document.document import Document, Section, Step
from symderive.document.prose import say
from symderive.index.codegen import DerivedSize, Option
from symderive.index.engine import Cases, IndexEngine
from symderive.index.program import (
    Contract,
    IndexProgram,
    Pointwise,
    SoftmaxCrossEntropy,
    Tensor,
    Term,
    WindowMax,
    output_size,
)
from symderive.index.render import access_latex
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
    size_symbols,
    spatial,
)

TITLE = "A CNN classifier: conv, ReLU, max pooling, dense, softmax cross-entropy"
AXES = [list(a) for a in spatial(2)]
for a, name in zip(AXES, ("H_c", "W_c")):
    a[5] = size_symbols(name)[0]
AXES = [tuple(a) for a in AXES]
(H, KH, SH, PH, DH, HC, i, p), (Wd, KW, SW, PW, DW, WC, j, q) = AXES
KP, HP, WP, N = size_symbols("K_p H_p W_p N")
o, k, r, s = index_symbols("o k r s")

X = Tensor("X", (C, H, Wd))
W = Tensor("W", (OC, C, KH, KW))
b = Tensor("b", (OC,))
V = Tensor("V", (N, OC, HP, WP))
beta = Tensor("beta", (N,), r"\beta")
y = Tensor("y", (N,))
Z = Tensor("Z", (OC, HC, WC))
A = Tensor("A", (OC, HC, WC))
Pm = Tensor("Pm", (OC, HP, WP), "P")
M = Tensor("M", (OC, HP, WP, KP, KP))
z = Tensor("z", (N,))
prob = Tensor("prob", (N,), "p")
L = Tensor("L", ())


def program() -> IndexProgram:
    conv = conv_contract(Z, X, W, b, AXES)
    relu = Pointwise(A, Z, "relu", (o, i, j))
    pool = WindowMax(Pm, (o, i, j), ((r, KP), (s, KP)), A[o, KP * i + r, KP * j + s], M)
    dense = Contract(z, (k,), (Term((V[k, o, i, j], Pm[o, i, j]), sums=((o, OC), (i, HP), (j, WP))), Term((beta[k],))))
    loss = SoftmaxCrossEntropy(L, z, y, prob, k)
    return IndexProgram("cnn", (conv, relu, pool, dense, loss), (X, W, b, V, beta, y), L, constants=(y,))


def document(der, options) -> Document:
    p_ = der.program
    conv, relu, pool, dense, _ = p_.ops
    bw = der.backward
    texs = {"prob": "p", "y": "y", "Z": "Z", "A": "A", "d_A": r"\bar{A}", "d_Pm": r"\bar{P}", "d_z": r"\bar{z}"}
    window = access_latex(A[o, KP * i + r, KP * j + s], (), options)
    model = model_section([
        conv,
        Step("A_{o, i, j}", r"\operatorname{relu}\left(Z_{o, i, j}\right)"),
        Step("P_{o, i, j}", rf"\max_{{r,s}} {window} = \sum_{{r,s}} M_{{o, i, j, r, s}} {window}"),
        dense,
        Step("p_{k}", r"\frac{e^{z_{k}}}{\sum_{l} e^{z_{l}}}"),
        Step("L", r"-\sum_{k} y_{k} \log p_{k}")], p_.arguments, options=options, text=say(options,
        r"The convolution extracts features, the dense layer classifies them: flattening $P$ and multiplying by the "
        r"dense weight is the sum over $(o, i, j)$ with $V$ holding that weight reshaped. $M$ is the one-hot arg-max "
        r"of each pooling window (the first maximum in row-major order on ties). The target $y$ is one-hot.",
        r"컨볼루션 층은 특징을 뽑고, 완전연결층은 그 특징으로 분류합니다. $P$를 펼쳐(flatten) 완전연결층의 가중치를 "
        r"곱하는 것은, 그 가중치를 모양만 바꿔 담은 $V$로 $(o, i, j)$에 대해 더하는 것과 같습니다. $M$은 풀링 창마다 "
        r"최댓값 위치만 1인 마스크입니다(최댓값이 여럿이면 행 우선 순서로 첫 번째). 정답 $y$는 원-핫 벡터입니다."))
    softmax = Section(say(options, "Softmax and cross-entropy", "소프트맥스와 교차 엔트로피"), say(options,
        r"With $L = -\sum_k y_k \log p_k$ and $\partial \log p_k / \partial z_l = [k = l] - p_l$: "
        r"$\partial L/\partial z_l = -\sum_k y_k ([k = l] - p_l) = p_l \sum_k y_k - y_l = p_l - y_l$, because "
        r"the one-hot target sums to 1.",
        r"$L = -\sum_k y_k \log p_k$이고 $\partial \log p_k / \partial z_l = [k = l] - p_l$이므로 "
        r"$\partial L/\partial z_l = -\sum_k y_k ([k = l] - p_l) = p_l \sum_k y_k - y_l = p_l - y_l$입니다. "
        r"원-핫 정답의 합이 1이기 때문입니다. 예측 확률에서 정답을 뺀 값이 그대로 오차 신호가 됩니다."), ())
    sections = (model, softmax) + tuple(gradient_section(bw, x, texs, options) for x in (z, V, beta, Pm, A, Z, W, b, X))
    return Document(*der.heading(options), sections, tags=("deep-learning", "backpropagation", "cnn"))


def torch_reference(arrays, options, tag):
    import torch
    import torch.nn.functional as F

    x, w, b_, v, be = (torch.tensor(arrays[n], requires_grad=True) for n in ("X", "W", "b", "V", "beta"))
    a = F.relu(F.conv2d(x[None], w, b_, stride=options["stride"], padding=options["padding"],
                        dilation=options["dilation"]))
    pooled = F.max_pool2d(a, options["pool"])
    logits = pooled.reshape(1, -1) @ v.reshape(v.shape[0], -1).T + be
    F.cross_entropy(logits, torch.tensor([int(arrays["y"].argmax())])).backward()
    return {n: t.grad.numpy() for n, t in zip(("X", "W", "b", "V", "beta"), (x, w, b_, v, be))}


def case(c_, o_, h, kk, s_, pad, dil, kp, n):
    return {C: c_, OC: o_, H: h, Wd: h, KH: kk, KW: kk, SH: s_, SW: s_, PH: pad, PW: pad, DH: dil, DW: dil,
            KP: kp, N: n}


def build() -> Derivation:
    pooled = tuple(DerivedSize(n_p, output_size(n_c, KP, KP), f"floor({n_c} / K_p)",
                               (("the pooling window K_p", KP), (f"the feature map {n_c}", n_c)))
                   for n_c, n_p in ((HC, HP), (WC, WP)))
    return Derivation(
        name="cnn",
        title=TITLE,
        summary=(r"The chain the notes describe as ``the conv layer extracts features, the FC layer classifies'': "
                 r"every gradient from the softmax cross-entropy back to the input image, derived at index level."),
        title_ko="CNN 분류기: 컨볼루션, ReLU, 최대 풀링, 완전연결층, 소프트맥스 교차 엔트로피",
        summary_ko=(r"``컨볼루션 층은 특징을 뽑고, 완전연결층은 분류한다''는 흐름을 그대로 따라, 소프트맥스 교차 "
                    r"엔트로피에서 입력 이미지까지 모든 기울기를 인덱스 수준에서 유도합니다."),
        engine=IndexEngine(
            variants=(("cnn", program()),),
            options=conv_options(AXES) + (Option("pool", (KP,), 2, 1),),
            derived=conv_derived(AXES) + pooled,
            shapes={"X": ("C", "H_in", "W_in"), "W": ("O", "C", "K_h", "K_w"), "b": ("O",),
                    "V": ("N", "O", "H_p", "W_p"), "beta": ("N",), "y": ("N",)},
            sizes=Cases(symbolic=(case(1, 2, 3, 2, 1, 1, 1, 2, 2),),
                        numeric=(case(2, 3, 10, 3, 1, 1, 1, 2, 4), case(2, 3, 11, 3, 2, 1, 2, 2, 3))),
            symbolic_positive=True,
            module_doc=("Arrays: X (C, H_in, W_in), W (O, C, K_h, K_w), b (O), V (N, O, H_p, W_p) "
                        "-- the dense weight of the\n"
                        "flattened pooled features, V.reshape(N, -1) in torch's layout --, "
                        "beta (N), y: a one-hot (N,) target\n"
                        "or an integer class index. Keyword arguments: stride=1, padding=0, dilation=1 (convolution),\n"
                        "pool=2 (max-pooling window and stride). loss = -log softmax(z)[y]; "
                        "grad(...) returns dL/dX, dL/dW,\n"
                        "dL/db, dL/dV, dL/dbeta.\n"),
        ),
        build_document=document,
        torch_reference=torch_reference,
    )
