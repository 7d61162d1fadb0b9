r"""A pre-norm Transformer encoder block, rows as tokens, as ``torch.nn.TransformerEncoderLayer(norm_first=True,
activation="relu", dropout=0.0, batch_first=True)`` computes it:

    \hat X = normalize_row(X),  A = \hat X ⊙ 1γ_1 + 1β_1,   Y = X + MHA(A)                 (the attention sublayer)
    \hat Y = normalize_row(Y),  B = \hat Y ⊙ 1γ_2 + 1β_2,   U = B W_1^T + 1 b_1,  R = ReLU(U)
    Z = Y + R W_2^T + 1 b_2,    L = <G, Z>                                                 (the feed-forward sublayer)

with MHA the multi-head self-attention of :mod:`symderive.derivations.mha`. The residual paths ``Y = X + ...`` and
``Z = Y + ...`` give ``\bar X = \bar Y + ...`` and ``\bar Y = \bar Z + ...``: the upstream gradient reaches the
input unchanged, whatever the sublayers do to their share.
"""
from __future__ import annotations

import sympy as sp

from symderive import Derivation, Model, Sizes, derive, hadamard, normalize_rows, relu, repeat_rows, sum_entries
from symderive.derivations.mha import (
    FROM_TORCH_LAYOUT,
    attention_block,
    keyword_check,
    projection,
    split_attention,
    tokens_document,
    tokens_model_section,
)
from symderive.document.document import Document, Section, Step
from symderive.document.prose import say
from symderive.matrix.sections import adjoint_section, gradients_section, tex

N, D, F, heads = sp.symbols("N D F heads", integer=True, positive=True)
TITLE = "A pre-norm Transformer block: every gradient, and the residual paths"
KEEP = frozenset({"Z", "R", "U", "B", "Yhat", "Y", "M", "O", "P", "S", "Q", "K", "V", "A", "Xhat"})
LATEX_NAMES = {"heads": "H", "Xhat": r"\hat X", "Yhat": r"\hat Y", "gamma_1": r"\gamma_1", "beta_1": r"\beta_1",
               "gamma_2": r"\gamma_2", "beta_2": r"\beta_2"}


def layer_norm(m: Model, name: str, normalised: str, X, gamma, beta):
    r"""``\hat X = normalize_row(X)`` (kept as a value: the backward pass reads it), then ``\hat X ⊙ 1γ + 1β``."""
    X_hat = m.let(normalised, normalize_rows(X))
    return m.let(name, hadamard(X_hat, repeat_rows(gamma, X.shape[0])) + repeat_rows(beta, X.shape[0]))


def model(causal: bool = False) -> Model:
    m = Model("transformer", latex_names=LATEX_NAMES)
    X, G = m.input("X", N, D), m.input("G", N, D)  # data (a batch axis may lead); declared first: X, G, the weights
    gamma_1, beta_1 = m.param("gamma_1", D), m.param("beta_1", D)
    A = layer_norm(m, "A", "Xhat", X, gamma_1, beta_1)
    Y = m.let("Y", X + attention_block(m, A, causal, output="M"))
    gamma_2, beta_2 = m.param("gamma_2", D), m.param("beta_2", D)
    W_1, b_1, W_2, b_2 = m.param("W_1", F, D), m.param("b_1", F), m.param("W_2", D, F), m.param("b_2", D)
    B = layer_norm(m, "B", "Yhat", Y, gamma_2, beta_2)
    R = m.let("R", relu(projection(m, "U", B, W_1, b_1)))
    Z = m.let("Z", Y + R @ W_2.T + repeat_rows(b_2, N))
    m.loss(sum_entries(hadamard(G, Z)))
    return m


def block_text(options) -> str:
    return say(options,
        r" Rows are tokens. Each sublayer reads a normalised copy of its input ($A$, $B$) and adds what it computes "
        r"to the input itself: $Y = X + M$ with $M$ the multi-head attention of $A$ (heads $Q_h, K_h, V_h$ of "
        r"$d_h = D/H$ columns), and $Z = Y + R W_2^\top + \mathbf{1} b_2$ with the feed-forward layer's ReLU $R$.",
        r" 행이 토큰입니다. 각 부층은 입력을 정규화한 사본($A$, $B$)을 읽고, 계산한 값을 입력 자체에 더합니다. "
        r"$Y = X + M$에서 $M$은 $A$의 멀티헤드 어텐션(헤드 $Q_h, K_h, V_h$는 각각 $d_h = D/H$열)이고, "
        r"$Z = Y + R W_2^\top + \mathbf{1} b_2$에서 $R$은 피드포워드 층의 ReLU입니다.")


def residual_steps(d, options) -> tuple[Step, ...]:
    r"""``\bar Y = \bar Z + \dots`` and ``\bar X = \bar Y + \dots`` as the engine derives them, the identity's share
    (the upstream adjoint itself) first."""
    steps = []
    for value, upstream in (("Y", "Z"), ("X", "Y")):
        identity = d.backward.adjoint_of[upstream].adjoint
        others = [t.expr for t in d.backward.adjoint_of[value].terms if t.expr != identity]
        rhs = " + ".join([tex(d, options, identity), *(tex(d, options, e) for e in others)])
        steps.append(Step(tex(d, options, d.backward.adjoint_of[value].adjoint), rhs))
    return tuple(steps)


def residual_section(d, options) -> Section:
    return Section(
        say(options, "The residual paths", "잔차 경로"),
        say(options,
            r"Each residual connection $Y = X + M$ is a sum, and the adjoint of a sum's term is the adjoint of the "
            r"sum: $\bar X$ receives $\bar Y$ as it is, and $\bar Y$ receives $\bar Z$ as it is, next to the shares "
            r"that pass through the sublayers. Through a stack of blocks the upstream gradient reaches the first "
            r"input by additions alone, with no Jacobian of a sublayer multiplied into it: however small the "
            r"sublayers' shares are, the gradient does not vanish. The LSTM's cell state does the same along time, "
            r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t$ gives $\bar c_{t-1} = f_t \odot \bar c_t + \dots$; there the "
            r"path is scaled by the forget gate (open, $f_t \approx 1$, it carries the gradient), here by exactly 1.",
            r"잔차 연결 $Y = X + M$은 합이고, 합의 항의 수반은 합의 수반과 같습니다. 그래서 $\bar X$는 $\bar Y$를 "
            r"그대로 받고, $\bar Y$는 $\bar Z$를 그대로 받으며, 부층을 거쳐 오는 몫은 그 옆에 더해집니다. 블록을 "
            r"여러 개 쌓아도 위에서 온 기울기는 덧셈만으로 첫 입력까지 닿고, 부층의 야코비안이 곱해지지 "
            r"않습니다. 부층의 몫이 아무리 작아도 기울기는 사라지지 않습니다. LSTM의 셀 상태가 시간 방향으로 같은 "
            r"일을 합니다. $c_t = f_t \odot c_{t-1} + i_t \odot g_t$에서 $\bar c_{t-1} = f_t \odot \bar c_t + "
            r"\dots$이고, 그 경로는 망각 게이트가 조절하지만(열려 있어 $f_t \approx 1$이면 기울기를 나릅니다), "
            r"여기서는 정확히 1입니다."),
        residual_steps(d, options))


GRADIENTS_TEXT = (
    r"The attention parameters' gradients are those of multi-head attention with $A$ in place of $X$; the layer "
    r"norms' scales collect $\bar A \odot \hat X$ summed over the tokens, their shifts $\bar A$ summed over the "
    r"tokens.",
    r"어텐션 매개변수의 기울기는 $X$ 대신 $A$를 넣은 멀티헤드 어텐션의 기울기입니다. 층 정규화의 배율은 "
    r"$\bar A \odot \hat X$를, 이동은 $\bar A$를 토큰에 대해 더한 값을 받습니다.")


def document(der: Derivation, options) -> Document:
    return tokens_document(der, options, lambda d, o: (
        tokens_model_section(d, o, block_text(o)),
        adjoint_section(d, o),
        residual_section(d, o),
        gradients_section(d, o, text=say(o, *GRADIENTS_TEXT))))


# ---------------------------------------------------------------------------------------------
# PyTorch: the reference, and the layout of its parameters.

TORCH_NAMES = {"gamma_1": "norm1.weight", "beta_1": "norm1.bias", "gamma_2": "norm2.weight", "beta_2": "norm2.bias",
               "W_1": "linear1.weight", "b_1": "linear1.bias", "W_2": "linear2.weight", "b_2": "linear2.bias"}

TRANSFORMER_FROM_TORCH = FROM_TORCH_LAYOUT + f'''

_TORCH_NAMES = {TORCH_NAMES!r}


def from_torch_layout(state_dict):
    """Every parameter argument of this module from the state_dict() of torch.nn.TransformerEncoderLayer(d_model=D,
    nhead=heads, dim_feedforward=F, dropout=0.0, activation="relu", batch_first=True, norm_first=True) (tensors
    or arrays)."""
    missing = [k for k in (*_TORCH_NAMES.values(), "self_attn.in_proj_weight") if k not in state_dict]
    if missing:
        raise ValueError(f"state_dict has no {{', '.join(missing)}}: not a TransformerEncoderLayer's state_dict")
    attention = _attention_parameters(*(state_dict[f"self_attn.{{k}}"] for k in
                                        ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")))
    return {{**{{name: _numpy(state_dict[key]) for name, key in _TORCH_NAMES.items()}}, **attention}}
'''


class EncoderLayerReference:
    """Gradients by ``torch.nn.TransformerEncoderLayer`` (pre-norm, ReLU, no dropout, batch_first, float64) and
    autograd."""

    description = "torch.nn.TransformerEncoderLayer (norm_first, relu, dropout 0, batch_first) with autograd"

    def __init__(self, heads: int):
        self.heads = heads  # the heads of the numeric checks' size (the harness passes arrays only)

    def __call__(self, arrays, causal: bool = False, eps: float = 1e-5, heads: int | None = None) -> dict:
        import numpy as np
        import torch  # only when torch is asked for (it is optional)

        (N, D), F = arrays["X"].shape, arrays["W_1"].shape[0]
        layer = torch.nn.TransformerEncoderLayer(d_model=D, nhead=heads or self.heads, dim_feedforward=F, dropout=0.0,
                                                 activation="relu", batch_first=True, norm_first=True,
                                                 layer_norm_eps=eps, dtype=torch.float64)
        state = {key: arrays[name] for name, key in TORCH_NAMES.items()}
        state.update({"self_attn.in_proj_weight": np.concatenate([arrays[f"W_{c}"] for c in "qkv"]),
                      "self_attn.in_proj_bias": np.concatenate([arrays[f"b_{c}"] for c in "qkv"]),
                      "self_attn.out_proj.weight": arrays["W_o"], "self_attn.out_proj.bias": arrays["b_o"]})
        layer.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        x = torch.tensor(arrays["X"], requires_grad=True)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(N, dtype=torch.float64) if causal else None
        z = layer(x[None], src_mask=mask, is_causal=causal)[0]
        (torch.tensor(arrays["G"]) * z).sum().backward()
        p = dict(layer.named_parameters())
        attention = split_attention({k[len("self_attn."):]: v for k, v in p.items() if k.startswith("self_attn.")})
        return {"X": x.grad.numpy(), "G": z.detach().numpy(), **attention,
                **{name: p[key].grad.numpy() for name, key in TORCH_NAMES.items()}}


SIZES = Sizes(small={N: 2, D: 2, F: 2, heads: 2}, numeric={N: 5, D: 6, F: 7, heads: 3},
              large={N: 16, D: 24, F: 32, heads: 4})


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"A pre-norm encoder block, $Y = X + \operatorname{MHA}(\operatorname{LN}_1(X))$, $Z = Y + "
                 r"\operatorname{ReLU}(\operatorname{LN}_2(Y) W_1^\top + \mathbf{1} b_1) W_2^\top + \mathbf{1} b_2$ "
                 r"(rows are tokens), with the loss $L = \langle G, Z \rangle$ for an upstream gradient $G$: every "
                 r"parameter's gradient, and why the residual paths keep gradients from vanishing."),
        title_ko="프리놈 트랜스포머 블록: 모든 기울기와 잔차 경로",
        summary_ko=(r"프리놈 인코더 블록 $Y = X + \operatorname{MHA}(\operatorname{LN}_1(X))$, $Z = Y + "
                    r"\operatorname{ReLU}(\operatorname{LN}_2(Y) W_1^\top + \mathbf{1} b_1) W_2^\top + \mathbf{1} b_2$"
                    r"(행이 토큰)에 위에서 내려온 기울기 $G$와의 내적 $L = \langle G, Z \rangle$을 손실로 두고, 모든 "
                    r"매개변수의 기울기와 잔차 경로가 기울기 소실을 막는 이유를 유도합니다."),
        sizes=SIZES,
        keep=KEEP,
        build_document=document,
        torch_reference=EncoderLayerReference(SIZES.numeric[heads]),
        extra_checks=(keyword_check({"causal": True, "eps": 0.1, "heads": SIZES.numeric[heads]},
                                    EncoderLayerReference(SIZES.numeric[heads]),
                                    ("X", "W_q", "gamma_1", "gamma_2", "W_1")),),
        module_extras=TRANSFORMER_FROM_TORCH,
    )
