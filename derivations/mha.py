r"""Multi-head self-attention with input and output projections, rows as tokens, as ``torch.nn.MultiheadAttention``
(``batch_first``, self-attention) writes it:

    Q = X W_q^T + 1 b_q,   K = X W_k^T + 1 b_k,   V = X W_v^T + 1 b_v
    S = stack_h(Q_h K_h^T) / sqrt(d_h),   P = softmax_row(S) (optionally causal),   O = concat_h(P_h V_h)
    Y = O W_o^T + 1 b_o,   L = <G, Y>

with ``H`` heads of ``d_h = D / H`` columns each (head h reads columns h d_h .. (h + 1) d_h - 1 of Q, K and V) and
``G`` the upstream gradient. The heads' products are the nodes of :mod:`symderive.ops.heads`.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symderive import (
    Derivation,
    Model,
    Sizes,
    attention_heads,
    derive,
    hadamard,
    head_outputs,
    head_scale,
    head_scores,
    repeat_rows,
    softmax,
    sum_entries,
)
from symderive.derivations.keywords import keyword_check
from symderive.document.document import Document, Section
from symderive.document.prose import say
from symderive.matrix.sections import adjoint_section, gradients_section, model_section

N, D, heads = sp.symbols("N D heads", integer=True, positive=True)
TITLE = "Multi-head self-attention: heads, projections and their gradients"
KEEP = frozenset({"Y", "O", "P", "S", "Q", "K", "V"})
LATEX_NAMES = {"heads": "H"}


def projection(m: Model, name: str, A, W, b):
    """``A W^T + 1 b``: a linear layer in PyTorch's orientation (rows are tokens)."""
    return m.let(name, A @ W.T + repeat_rows(b, A.shape[0]))


def attention_block(m: Model, A, causal: bool = False, output: str = "Y") -> sp.MatrixExpr:
    """Multi-head self-attention of the rows of ``A`` (N x D); declares W_q, W_k, W_v, W_o and b_q, b_k, b_v, b_o
    (PyTorch's orientation) and returns its value named ``output`` (N x D)."""
    width = A.shape[1]
    W = {c: m.param(f"W_{c}", width, width) for c in "qkvo"}
    b = {c: m.param(f"b_{c}", width) for c in "qkvo"}
    H = attention_heads(heads, width)
    Q, K, V = (projection(m, c.upper(), A, W[c], b[c]) for c in "qkv")
    S = m.let("S", head_scale(H, width) * head_scores(Q, K, H))
    P = m.let("P", softmax(S, rows=True, causal=causal))
    heads_out = m.let("O", head_outputs(P, V, H))
    return projection(m, output, heads_out, W["o"], b["o"])


def model(causal: bool = False) -> Model:
    m = Model("mha", latex_names=LATEX_NAMES)
    X, G = m.input("X", N, D), m.input("G", N, D)  # data (a batch axis may lead); declared first: X, G, the weights
    m.loss(sum_entries(hadamard(G, attention_block(m, X, causal))))
    return m


def heads_text(options) -> str:
    return say(options,
               r" Rows are tokens. The $H$ heads split the columns: head $h$ reads $d_h = D/H$ columns of $Q$, $K$ "
               r"and $V$ ($Q_h$, $K_h$, $V_h$). Its scores $Q_h K_h^\top$ are stacked below each other, "
               r"$\operatorname{stack}_h$, so that the row-wise softmax normalises every head's rows on their own, "
               r"and the heads' outputs $P_h V_h$ are put side by side, $\operatorname{concat}_h$, before the output "
               r"projection mixes them.",
               r" 행이 토큰입니다. $H$개의 헤드가 열을 나눕니다. 헤드 $h$는 $Q$, $K$, $V$의 열 $d_h = D/H$개"
               r"($Q_h$, $K_h$, $V_h$)를 읽습니다. 헤드마다의 점수 $Q_h K_h^\top$을 위아래로 쌓고"
               r"($\operatorname{stack}_h$), 행 단위 소프트맥스가 헤드마다의 행을 따로 정규화합니다. 헤드의 출력 "
               r"$P_h V_h$는 옆으로 나란히 붙이고($\operatorname{concat}_h$), 출력 사영이 이를 섞습니다.")


def tokens_model_section(d, options, text: str) -> Section:
    """The model section with ``text`` (on rows as tokens) after the sizes, instead of the sentence on layouts."""
    section = model_section(d, options)
    sizes = section.text.split(". ")[0] + "."
    return Section(section.title, sizes + text, section.steps)


def tokens_document(der: Derivation, options, sections) -> Document:
    """The document of ``sections(der, options)``; rows are tokens, so both layouts print the model as written (a
    layout transposes vectors)."""
    options = replace(options, layout="column")
    return Document(*der.heading(options), sections(der, options), tags=("deep-learning", "attention", "transformer"))


GRADIENTS_TEXT = (
    r"Per head these are the gradients of single-head attention: $\bar V_h = P_h^\top \bar O_h$, $\bar Q_h = "
    r"\bar S_h K_h / \sqrt{d_h}$, $\bar K_h = \bar S_h^\top Q_h / \sqrt{d_h}$, put side by side. The three projections "
    r"read the same $X$, so $\bar X$ is the sum of three shares, and each bias collects its adjoint summed over the "
    r"tokens ($\bar Q^\top \mathbf{1}$); the key bias's is zero, since every row of $\bar S$ sums to zero (a "
    r"softmax does not change when all its inputs move together).",
    r"헤드마다 보면 한 헤드 어텐션의 기울기 $\bar V_h = P_h^\top \bar O_h$, $\bar Q_h = \bar S_h K_h / \sqrt{d_h}$, "
    r"$\bar K_h = \bar S_h^\top Q_h / \sqrt{d_h}$를 옆으로 나란히 붙인 것입니다. 세 사영이 같은 $X$를 읽으므로 "
    r"$\bar X$는 세 몫의 합이고, 각 편향은 자기 수반을 토큰에 대해 더한 값($\bar Q^\top \mathbf{1}$)을 받습니다. "
    r"키 편향의 기울기는 0입니다. $\bar S$의 각 행의 합이 0이기 때문입니다(소프트맥스는 입력이 함께 움직여도 "
    r"변하지 않습니다).")


def document(der: Derivation, options) -> Document:
    return tokens_document(der, options, lambda d, o: (
        tokens_model_section(d, o, heads_text(o)),
        adjoint_section(d, o),
        gradients_section(d, o, text=say(o, *GRADIENTS_TEXT))))


# ---------------------------------------------------------------------------------------------
# PyTorch: the reference, and the layout of its parameters.

FROM_TORCH_LAYOUT = '''

def _numpy(value):
    """A torch tensor (detached, on the CPU) or anything array-like, as a float64 array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _attention_parameters(in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    """W_q, W_k, W_v (rows of in_proj_weight, in that order), W_o and the biases, as this module's arguments."""
    W, b = _numpy(in_proj_weight), _numpy(in_proj_bias)
    if W.ndim != 2 or W.shape[0] != 3 * W.shape[1] or b.shape != (W.shape[0],):
        raise ValueError(f"in_proj_weight must be (3D, D) and in_proj_bias (3D,), got {W.shape} and {b.shape}")
    D = W.shape[1]
    out = {f"W_{c}": W[i * D:(i + 1) * D] for i, c in enumerate("qkv")}
    out.update({f"b_{c}": b[i * D:(i + 1) * D] for i, c in enumerate("qkv")})
    return {**out, "W_o": _numpy(out_proj_weight), "b_o": _numpy(out_proj_bias)}
'''

MHA_FROM_TORCH = FROM_TORCH_LAYOUT + '''

def from_torch_layout(in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    """The parameter arguments (W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o) of torch.nn.MultiheadAttention's
    in_proj_weight (3D, D), in_proj_bias (3D,), out_proj.weight (D, D), out_proj.bias (D,) (tensors or arrays)."""
    return _attention_parameters(in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias)
'''

class MhaReference:
    """Gradients by ``torch.nn.MultiheadAttention`` (batch_first self-attention, float64) and autograd."""

    description = "torch.nn.MultiheadAttention (batch_first self-attention) with autograd"

    def __init__(self, heads: int):
        self.heads = heads  # the heads of the numeric checks' size (the harness passes arrays only)

    def __call__(self, arrays, causal: bool = False, heads: int | None = None) -> dict:
        import numpy as np
        import torch  # only when torch is asked for (it is optional)

        D = arrays["X"].shape[1]
        layer = torch.nn.MultiheadAttention(D, heads or self.heads, batch_first=True, dtype=torch.float64)
        state = {"in_proj_weight": np.concatenate([arrays[f"W_{c}"] for c in "qkv"]),
                 "in_proj_bias": np.concatenate([arrays[f"b_{c}"] for c in "qkv"]),
                 "out_proj.weight": arrays["W_o"], "out_proj.bias": arrays["b_o"]}
        layer.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        x = torch.tensor(arrays["X"], requires_grad=True)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(len(x), dtype=torch.float64) if causal else None
        y = layer(x[None], x[None], x[None], need_weights=False, attn_mask=mask, is_causal=causal)[0][0]
        (torch.tensor(arrays["G"]) * y).sum().backward()
        return {"X": x.grad.numpy(), "G": y.detach().numpy(), **split_attention(dict(layer.named_parameters()))}


def split_attention(p: dict) -> dict:
    """This module's parameter gradients from nn.MultiheadAttention's (in_proj rows q, k, v)."""
    W, b = p["in_proj_weight"].grad.numpy(), p["in_proj_bias"].grad.numpy()
    D = W.shape[1]
    out = {f"W_{c}": W[i * D:(i + 1) * D] for i, c in enumerate("qkv")}
    out.update({f"b_{c}": b[i * D:(i + 1) * D] for i, c in enumerate("qkv")})
    return {**out, "W_o": p["out_proj.weight"].grad.numpy(), "b_o": p["out_proj.bias"].grad.numpy()}


SIZES = Sizes(small={N: 2, D: 2, heads: 2}, numeric={N: 5, D: 6, heads: 3}, large={N: 32, D: 48, heads: 4})


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"Multi-head self-attention $Y = \operatorname{concat}_h(\operatorname{softmax}_{\text{row}}(Q_h "
                 r"K_h^\top/\sqrt{d_h}) V_h)\, W_o^\top + \mathbf{1} b_o$ with its input projections, in PyTorch's "
                 r"orientation, and the loss $L = \langle G, Y \rangle$ for an upstream gradient $G$."),
        title_ko="멀티헤드 셀프 어텐션: 헤드, 사영과 그 기울기",
        summary_ko=(r"입력 사영을 포함한 멀티헤드 셀프 어텐션 $Y = \operatorname{concat}_h(\operatorname{softmax}_"
                    r"{\text{row}}(Q_h K_h^\top/\sqrt{d_h}) V_h)\, W_o^\top + \mathbf{1} b_o$를 PyTorch의 방향으로 "
                    r"쓰고, 위에서 내려온 기울기 $G$와의 내적 $L = \langle G, Y \rangle$을 손실로 두어 미분합니다."),
        sizes=SIZES,
        keep=KEEP,
        build_document=document,
        torch_reference=MhaReference(SIZES.numeric[heads]),
        extra_checks=(keyword_check({"causal": True, "heads": SIZES.numeric[heads]}, MhaReference(SIZES.numeric[heads]),
                                    ("X", "W_q", "W_k", "W_v", "b_q")),),
        module_extras=MHA_FROM_TORCH,
    )
