r"""Layer norm over each row (a token), as ``torch.nn.functional.layer_norm(X, (D,), gamma, beta, eps)``:

    X_hat = (x - mu) / sqrt(sigma^2 + eps) per row,   Y = gamma ⊙ X_hat + beta (gamma, beta repeated down the rows),
    L = <G, Y>

with ``G`` the upstream gradient. The engine's rule for the normalisation is the compact backward
``x̄ = (x̂̄ - mean(x̂̄) - x̂ ⊙ mean(x̂̄ ⊙ x̂)) / sqrt(sigma^2 + eps)``, proved in ``tests/ops/test_rows.py``.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symderive import Derivation, Model, Sizes, derive, hadamard, normalize_rows, repeat_rows, sum_entries
from symderive.derivations.keywords import keyword_check
from symderive.document.document import Document, Section
from symderive.document.prose import say
from symderive.matrix.sections import adjoint_section, gradients_section, model_section

N, D = sp.symbols("N D", integer=True, positive=True)
TITLE = "Layer norm: the compact backward pass"


def model() -> Model:
    m = Model("layernorm", latex_names={"X_hat": r"\hat X", "d_X_hat": r"\bar{\hat X}", "gamma": r"\gamma",
                                        "beta": r"\beta", "d_gamma": r"\bar\gamma", "d_beta": r"\bar\beta"})
    X, gamma, beta = m.input("X", N, D), m.param("gamma", D), m.param("beta", D)
    G = m.input("G", N, D)
    X_hat = m.let("X_hat", normalize_rows(X))
    Y = m.let("Y", hadamard(X_hat, repeat_rows(gamma, N)) + repeat_rows(beta, N))
    m.loss(sum_entries(hadamard(G, Y)))
    return m


def layernorm_model_section(d, options) -> Section:
    section = model_section(d, options)
    sizes = section.text.split(". ")[0] + "."
    return Section(section.title, sizes + say(options,
        r" Rows are tokens, and each row $x$ is normalised on its own: $\hat x = (x - \mu)/\sqrt{\sigma^2 + \epsilon}$ "
        r"with $\mu$ and $\sigma^2$ the mean and the (biased) variance of its $D$ entries; $\gamma$ and $\beta$ scale "
        r"and shift every row alike ($\mathbf{1}\gamma^\top$ repeats $\gamma$ as a row down the $N$ rows). "
        r"$G = \partial L/\partial Y$ is the gradient that arrives from above.",
        r" 행이 토큰이고, 각 행 $x$를 따로 정규화합니다. $\hat x = (x - \mu)/\sqrt{\sigma^2 + \epsilon}$에서 $\mu$와 "
        r"$\sigma^2$는 그 행의 $D$개 성분의 평균과 (편향) 분산입니다. $\gamma$와 $\beta$는 모든 행을 똑같이 늘리고 "
        r"옮깁니다($\mathbf{1}\gamma^\top$는 $\gamma$를 행으로 눕혀 $N$번 반복한 것). "
        r"$G = \partial L/\partial Y$는 위에서 내려오는 기울기입니다."), section.steps)


def document(der: Derivation, options) -> Document:
    """The document; rows are tokens, so both layouts print the model as written (a layout transposes vectors)."""
    options = replace(options, layout="column")
    sections = (
        layernorm_model_section(der, options),
        adjoint_section(der, options),
        gradients_section(der, options, text=say(options,
            r"The normalisation's rule is the compact form: of the adjoint $\bar{\hat x}$ of a row, its mean is "
            r"removed (moving every entry of $x$ together does not change $\hat x$) and so is its part along $\hat x$ "
            r"(scaling $x - \mu$ does not change $\hat x$ either); what remains is divided by the row's standard "
            r"deviation. $\gamma$ and $\beta$ collect the column sums over the tokens.",
            r"정규화의 규칙은 간결한 꼴입니다. 한 행의 수반 $\bar{\hat x}$에서 평균을 빼고(모든 성분을 함께 옮겨도 "
            r"$\hat x$는 그대로이므로), $\hat x$ 방향의 성분도 뺍니다($x - \mu$를 늘리거나 줄여도 $\hat x$는 그대로"
            r"이므로). 남은 것을 그 행의 표준편차로 나눕니다. $\gamma$와 $\beta$는 토큰에 걸친 열 합을 모읍니다.")),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "layer-norm", "transformer"))


class LayerNormReference:
    """Gradients by ``torch.nn.functional.layer_norm`` and autograd, float64."""

    description = "torch.nn.functional.layer_norm with autograd"

    def __call__(self, arrays, eps: float = 1e-5) -> dict:
        import torch  # only when torch is asked for (it is optional)

        a = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
        Y = torch.nn.functional.layer_norm(a["X"], (a["X"].shape[1],), a["gamma"], a["beta"], eps)
        (a["G"] * Y).sum().backward()
        return {k: v.grad.numpy() for k, v in a.items()}


SIZES = Sizes(small={N: 2, D: 3}, numeric={N: 4, D: 6}, large={N: 32, D: 64})


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"Layer norm over each row, $Y = \gamma \odot \hat X + \beta$ with $\hat X$ each row normalised, "
                 r"and the loss $L = \langle G, Y \rangle$ for an upstream gradient $G$, differentiated in reverse "
                 r"mode into the compact backward pass."),
        title_ko="레이어 정규화: 간결한 역전파",
        summary_ko=(r"각 행을 정규화하는 레이어 정규화 $Y = \gamma \odot \hat X + \beta$에 "
                    r"위에서 내려온 기울기 $G$와의 내적 $L = \langle G, Y \rangle$을 손실로 두고 "
                    r"역방향 모드로 미분해 간결한 역전파를 얻습니다."),
        sizes=SIZES,
        keep=frozenset({"X_hat", "Y"}),
        build_document=document,
        torch_reference=LayerNormReference(),
        extra_checks=(keyword_check({"eps": 0.1}, LayerNormReference()),),
    )
