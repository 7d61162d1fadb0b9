r"""Scaled dot-product attention, rows as tokens, as ``torch.nn.functional.scaled_dot_product_attention``:

    S = Q K^T / sqrt(d_k),   P = softmax_row(S) (optionally causal),   O = P V,   L = <G, O>

with ``G`` the upstream gradient (the loss of a layer is its inner product with it). The gradients come out of
the engine in their compact forms; the identities that make them FlashAttention's (``rowsum(P̄ ⊙ P) =
rowsum(Ō ⊙ O)``) and that show a bias on every key gets no gradient are proved rewrite rules
(:mod:`symderive.ops.row_identities`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from symderive import Derivation, Model, Sizes, attention_scale, derive, hadamard, repeat_rows, softmax, sum_entries
from symderive.derivations.keywords import keyword_check
from symderive.document.document import Document, Section, Step
from symderive.document.prose import say
from symderive.matrix.derive import derive as derive_backward
from symderive.matrix.derive import inline
from symderive.matrix.sections import adjoint_section, gradients_section, model_section, tex
from symderive.ops.row_identities import ONES_TRANSPOSE, ROWSUM_PRODUCT, SOFTMAX_ROWSUM, softmax_values
from symderive.ops.rows import RowSum
from symderive.verify.numeric import compare
from symderive.verify.report import Row

N, M, d_k, d_v = sp.symbols("N M d_k d_v", integer=True, positive=True)
TITLE = "Scaled dot-product attention: the compact backward pass"
KEEP = frozenset({"O", "P", "S"})


def model(causal: bool = False, key_bias: bool = False) -> Model:
    """The attention layer; ``key_bias`` adds a row ``b`` to every key (``K + 1 b``), to show it gets no gradient."""
    m = Model("attention_key_bias" if key_bias else "attention")
    Q, K, V, G = m.input("Q", N, d_k), m.input("K", M, d_k), m.input("V", M, d_v), m.input("G", N, d_v)
    if key_bias:
        K = m.let("K_b", K + repeat_rows(m.param("b", 1, d_k), M))
    S = m.let("S", attention_scale(d_k) * Q @ K.T)
    P = m.let("P", softmax(S, rows=True, causal=causal))
    output = m.let("O", P @ V)
    m.loss(sum_entries(hadamard(G, output)))
    return m


def rows_text(d, options) -> str:
    return say(options,
               r" Rows are tokens: query $i$ is row $i$ of $Q$, and row $i$ of $P$ says how much of each value "
               r"(row $j$ of $V$) it takes. $G = \partial L/\partial O$ is the gradient that arrives from above.",
               r" 행이 토큰입니다. 질의 $i$는 $Q$의 $i$번째 행이고, $P$의 $i$번째 행은 값($V$의 $j$번째 행)을 각각 "
               r"얼마나 가져올지 정합니다. $G = \partial L/\partial O$는 위에서 내려오는 기울기입니다.")


def attention_model_section(d, options) -> Section:
    section = model_section(d, options)
    sizes = section.text.split(". ")[0] + "."
    return Section(section.title, sizes + rows_text(d, options), section.steps)


def rowsum_steps(d, options) -> tuple[Step, ...]:
    r"""``rowsum(P̄ ⊙ P) = rowsum((Ō V^T) ⊙ P) = rowsum(Ō ⊙ (P V)) = rowsum(Ō ⊙ O)``, each step computed."""
    bw = d.backward
    d_P, P, output = bw.adjoint_of["P"].adjoint, sp.MatrixSymbol("P", N, M), sp.MatrixSymbol("O", N, d_v)
    start = RowSum(hadamard(d_P, P))
    inlined = inline(start, bw, keep=KEEP - {"P"})
    moved = ROWSUM_PRODUCT.apply(inlined)
    named = moved.xreplace({d.program.defined["O"].expr: output})
    texts = [tex(d, options, e) for e in (start, inlined, moved, named)]
    return (Step(texts[0], texts[1], say(options, r"Write $\bar P$ out:", r"$\bar P$를 풀어 씁니다:")),
            Step("", texts[2], say(options, rf"by ${ROWSUM_PRODUCT.statement}$:", rf"${ROWSUM_PRODUCT.statement}$에 "
                                   "따라:")),
            Step("", texts[3], say(options, r"and $P V$ is $O$:", r"$P V$는 $O$이므로:")))


def flash_section(d, options) -> Section:
    return Section(
        say(options, "The row sums through the output", "출력으로 구하는 행 합"),
        say(options,
            r"The adjoint of the scores needs one number per query, $\operatorname{rowsum}(\bar P \odot P)$, a sum "
            r"over all $M$ keys. The same number is a sum over the $d_v$ entries of the query's output, which "
            r"memory-efficient kernels (FlashAttention) compute before the backward pass without storing $P$:",
            r"점수의 수반에는 질의마다 수 하나, 곧 $M$개의 키 전체에 대한 합 $\operatorname{rowsum}(\bar P \odot P)$가 "
            r"필요합니다. 같은 수를 그 질의 출력의 $d_v$개 성분에 대한 합으로도 구할 수 있어서, 메모리를 아끼는 "
            r"커널(FlashAttention)은 $P$를 저장하지 않고 역전파 전에 이 값을 미리 계산합니다:"),
        rowsum_steps(d, options))


def key_bias_steps(d, options) -> tuple[Step, ...]:
    r"""``b̄`` of a bias on every key, from the engine, rewritten by ``1^T A^T = rowsum(A)^T`` and the softmax
    row-sum identity to 0."""
    biased = model(key_bias=True).program()
    bw = derive_backward(biased)
    from_engine = inline(bw.adjoint_of["b"].value(), bw, keep=KEEP)
    written = inline(from_engine, bw, keep=KEEP - {"S"})
    summed = ONES_TRANSPOSE.apply(written)
    zero = SOFTMAX_ROWSUM.apply(summed, softmax_values(biased))
    rows = say(options, rf"and each row of $P$ sums to one, ${SOFTMAX_ROWSUM.statement}$:",
               rf"$P$의 각 행의 합은 1이므로 ${SOFTMAX_ROWSUM.statement}$:")
    return (Step(r"\frac{\partial L}{\partial b}", tex(d, options, from_engine)),
            Step("", tex(d, options, written), say(options, r"Write $\bar S$ out:", r"$\bar S$를 풀어 씁니다:")),
            Step("", tex(d, options, summed), say(options, rf"by ${ONES_TRANSPOSE.statement}$:",
                                                  rf"${ONES_TRANSPOSE.statement}$에 따라:")),
            Step("", tex(d, options, zero), rows))


def shift_section(d, options) -> Section:
    return Section(
        say(options, "A bias on every key gets no gradient", "모든 키에 더한 편향의 기울기는 0"),
        say(options,
            r"Add the same row $b$ to every key, $K + \mathbf{1} b$. Each score of query $i$ moves by the same "
            r"amount $q_i^\top b / \sqrt{d_k}$, and a softmax does not change when all its inputs move together. "
            r"The engine shows it: the gradient of $b$ collects $\bar S$ summed over each row, and those row sums "
            r"are zero.",
            r"모든 키에 같은 행 $b$를 더해 $K + \mathbf{1} b$로 만들어 봅시다. 질의 $i$의 점수는 모두 같은 양 "
            r"$q_i^\top b / \sqrt{d_k}$만큼 움직이고, 소프트맥스는 입력이 함께 움직여도 변하지 않습니다. 엔진의 "
            r"결과도 그렇습니다. $b$의 기울기는 $\bar S$를 행마다 더한 값을 모으는데, 그 행 합이 0입니다."),
        key_bias_steps(d, options))


def document(der: Derivation, options) -> Document:
    """The document; rows are tokens, so both layouts print the model as written (a layout transposes vectors)."""
    options = replace(options, layout="column")
    sections = (
        attention_model_section(der, options),
        adjoint_section(der, options),
        gradients_section(der, options, text=say(options,
            r"Through the kept adjoints: $\bar V = P^\top \bar O$ gathers, for each value, the output gradients of the "
            r"queries that read it, weighted by how much they read it; $\bar Q$ and $\bar K$ carry the factor "
            r"$1/\sqrt{d_k}$ of the scores.",
            r"남겨 둔 수반으로 쓰면 다음과 같습니다. $\bar V = P^\top \bar O$는 값마다, 그 값을 읽은 질의들의 출력 "
            r"기울기를 읽은 비율만큼 모읍니다. $\bar Q$와 $\bar K$에는 점수의 인자 $1/\sqrt{d_k}$가 붙습니다.")),
        flash_section(der, options),
        shift_section(der, options),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "attention", "transformer"))


class SdpaReference:
    """Gradients by ``torch.nn.functional.scaled_dot_product_attention`` and autograd, float64."""

    description = "torch.nn.functional.scaled_dot_product_attention with autograd"

    def __call__(self, arrays, causal: bool = False, scale=None) -> dict:
        import torch  # only when torch is asked for (it is optional)

        a = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
        output = torch.nn.functional.scaled_dot_product_attention(a["Q"], a["K"], a["V"], is_causal=causal, scale=scale)
        (a["G"] * output).sum().backward()
        return {k: v.grad.numpy() for k, v in a.items()}


def flash_check(d, arrays) -> Row:
    """``rowsum(P̄ ⊙ P) = rowsum(Ō ⊙ O)`` on the exported values."""
    values = d.load_module()._backward(*d.load_module()._prepare(**arrays))
    left = np.sum(values["d_P"] * values["P"], axis=-1)
    right = np.sum(values["d_O"] * values["O"], axis=-1)
    rel, mx, close = compare(left, right)
    return Row("rowsum(dP * P) = rowsum(dO * O)", None, rel, mx, close)


SIZES = Sizes(small={N: 2, M: 2, d_k: 4, d_v: 2}, numeric={N: 5, M: 7, d_k: 4, d_v: 3},
              large={N: 32, M: 48, d_k: 16, d_v: 8})


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"Scaled dot-product attention $O = \operatorname{softmax}_{\text{row}}(Q K^\top/\sqrt{d_k})\, V$ "
                 r"with the loss $L = \langle G, O \rangle$ for an upstream gradient $G$, differentiated in reverse "
                 r"mode into the compact forms memory-efficient kernels use."),
        title_ko="스케일드 닷프로덕트 어텐션: 간결한 역전파",
        summary_ko=(r"스케일드 닷프로덕트 어텐션 $O = \operatorname{softmax}_{\text{row}}(Q K^\top/\sqrt{d_k})\, V$에 "
                    r"위에서 내려온 기울기 $G$와의 내적 $L = \langle G, O \rangle$을 손실로 두고 역방향 모드로 미분해, "
                    r"메모리를 아끼는 커널이 쓰는 간결한 꼴을 얻습니다."),
        sizes=SIZES,
        keep=KEEP,
        build_document=document,
        torch_reference=SdpaReference(),
        extra_checks=(keyword_check({"causal": True, "scale": 0.3}, SdpaReference(), ("Q", "K", "V")), flash_check),
    )

