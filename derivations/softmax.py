r"""Softmax of a vector with an upstream gradient, and softmax followed by cross-entropy:

    s = softmax(z),   L = g^T s            (z̄ is the vector-Jacobian product with g)
    L_CE = -y^T log softmax(z)             (z̄ = (1^T y) s - y, which is s - y for a distribution y)

The Jacobian ``diag(s) - s s^T`` is read off the engine's VJP by the identity
``s ⊙ (g - (g^T s) 1) = (diag(s) - s s^T) g`` (proved in ``tests/derivations/test_softmax_builtin.py``).
"""
from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul

from symderive import Derivation, Model, Sizes, cross_entropy, derive, hadamard, softmax, sum_entries
from symderive.document.document import Document, Section, Step
from symderive.document.prose import say
from symderive.matrix.derive import derive as derive_backward
from symderive.matrix.derive import inline, linear_map, transpose_map
from symderive.matrix.sections import adjoint_section, gradients_section, model_section, tex
from symderive.ops.softmax import Softmax, SumEntries, SumFactor

n = sp.Symbol("n", integer=True, positive=True)
TITLE = "Softmax: its Jacobian, its vector-Jacobian product, and cross-entropy"
JACOBIAN_IDENTITY = (r"s \odot \left(g - (g^\top s)\, \mathbf{1}\right) = "
                     r"\left(\operatorname{diag}(s) - s s^\top\right) g")


def model() -> Model:
    m = Model("softmax")
    z, g = m.input("z", n), m.input("g", n)
    s = m.let("s", softmax(z))
    m.loss(sum_entries(hadamard(g, s)))
    return m


def cross_entropy_model() -> Model:
    m = Model("softmax_cross_entropy")
    z, y = m.input("z", n), m.input("y", n)
    m.loss(cross_entropy(z, y))
    return m


def as_jacobian_product(expr, g, s):
    """``s ⊙ (g - (g^T s) 1) -> (diag(s) - s s^T) g`` (the identity :data:`JACOBIAN_IDENTITY`), else None."""
    if not isinstance(expr, HadamardProduct) or len(expr.args) != 2 or s not in expr.args:
        return None
    rest = next(a for a in expr.args if a != s)
    correction = MatMul(-1, MatMul(SumFactor(hadamard(g, s)), sp.OneMatrix(*g.shape)).doit()).doit()
    if not isinstance(rest, MatAdd) or set(rest.args) != {g, correction}:
        return None
    return MatMul(sp.DiagMatrix(s) - MatMul(s, s.T), g)


def jacobian(d) -> sp.MatrixExpr:
    r"""``\partial s/\partial z`` from the engine's VJP: rewritten by the identity, linear in ``\bar s``."""
    bw = d.backward
    g, s = bw.adjoint_of["s"].adjoint, sp.MatrixSymbol("s", n, 1)
    vjp = bw.adjoint_of["z"].value()
    product = as_jacobian_product(vjp, g, s)
    return transpose_map(linear_map(product, g))


def jacobian_section(d, options) -> Section:
    J = tex(d, options, jacobian(d))
    return Section(
        say(options, "The Jacobian", "야코비안"),
        say(options,
            rf"The rule is linear in $\bar s$, and ${JACOBIAN_IDENTITY}$ (entry $i$: $s_i g_i - s_i \sum_j s_j g_j$), "
            r"so the Jacobian can be read off it. It is symmetric: moving $z_j$ raises $s_j$ by $s_j(1 - s_j)$ and "
            r"lowers every other $s_i$ by $s_i s_j$, since the entries of $s$ always sum to one.",
            rf"규칙은 $\bar s$에 대해 선형이고 ${JACOBIAN_IDENTITY}$이므로(성분 $i$: $s_i g_i - s_i \sum_j s_j g_j$) "
            r"야코비안을 그대로 읽어 낼 수 있습니다. 야코비안은 대칭입니다. "
            r"$z_j$를 움직이면 $s_j$는 $s_j(1 - s_j)$만큼 오르고 다른 $s_i$는 모두 $s_i s_j$만큼 내립니다. "
            r"$s$의 성분의 합은 언제나 1이기 때문입니다."),
        (Step(r"\frac{\partial s}{\partial z}", J),))


def cross_entropy_steps(d, options) -> tuple[Step, ...]:
    r"""``z̄`` of cross-entropy from the engine, then ``1^T y = 1`` for a distribution ``y``."""
    ce = cross_entropy_model().program()
    bw = derive_backward(ce)
    z_bar = inline(bw.adjoint_of["z"].value(), bw)
    y = sp.MatrixSymbol("y", n, 1)
    named = {Softmax(sp.MatrixSymbol("z", n, 1)): sp.MatrixSymbol("s", n, 1)}
    collapsed = z_bar.xreplace({SumFactor(y): sp.S.One, SumEntries(y): sp.S.One}).doit().xreplace(named)
    L = tex(d, options, ce.loss)
    return (Step("L", L),
            Step(r"\frac{\partial L}{\partial z}", tex(d, options, z_bar)),
            Step("", tex(d, options, collapsed),
                 say(options, r"and $\mathbf{1}^\top y = 1$ when $y$ is one-hot, or any distribution:",
                     r"$y$가 원-핫 벡터이거나 확률분포이면 $\mathbf{1}^\top y = 1$이므로:")))


def cross_entropy_section(d, options) -> Section:
    return Section(
        say(options, "Softmax followed by cross-entropy", "소프트맥스 다음의 교차 엔트로피"),
        say(options,
            r"With the cross-entropy of the logits against a target $y$, the engine reads $\log s$ as "
            r"$\log\operatorname{softmax}(z)$ and its rule gives the logits' gradient at once: the Jacobian above and "
            r"the $1/s$ of the logarithm cancel, leaving the prediction minus the target.",
            r"목표 $y$에 대한 로짓의 교차 엔트로피를 쓰면, 엔진은 $\log s$를 $\log\operatorname{softmax}(z)$로 읽고 그 "
            r"규칙으로 로짓의 기울기를 곧바로 얻습니다. 위의 야코비안과 로그의 $1/s$가 상쇄되어 예측에서 목표를 뺀 "
            r"값만 남습니다."),
        cross_entropy_steps(d, options))


def document(der: Derivation, options) -> Document:
    sections = (
        model_section(der, options),
        adjoint_section(der, options),
        gradients_section(der, options, text=say(options,
            r"The vector-Jacobian product with $g = \bar s$, computed without forming the $n \times n$ Jacobian: "
            r"$g$ minus its average under $s$, weighted by $s$.",
            r"$g = \bar s$와의 벡터-야코비안 곱이며, $n \times n$ 야코비안을 만들지 않고 계산합니다. "
            r"$g$에서 $s$로 가중한 평균을 빼고 $s$를 곱한 값입니다.")),
        jacobian_section(der, options),
        cross_entropy_section(der, options),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "softmax", "cross-entropy"))


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"The softmax $s = \operatorname{softmax}(z)$ with the loss $L = g^\top s$ for an upstream gradient "
                 r"$g$: its vector-Jacobian product, its Jacobian $\operatorname{diag}(s) - s s^\top$, and the "
                 r"gradient $s - y$ of softmax followed by cross-entropy."),
        title_ko="소프트맥스: 야코비안, 벡터-야코비안 곱, 교차 엔트로피",
        summary_ko=(r"소프트맥스 $s = \operatorname{softmax}(z)$에 위에서 내려온 기울기 $g$와의 내적 $L = g^\top s$를 "
                    r"손실로 두고, 벡터-야코비안 곱과 야코비안 $\operatorname{diag}(s) - s s^\top$, 그리고 소프트맥스 "
                    r"다음에 교차 엔트로피를 둘 때의 기울기 $s - y$를 유도합니다."),
        sizes=Sizes(small={n: 3}, numeric={n: 8}, large={n: 256}),
        build_document=document,
    )
