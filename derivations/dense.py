"""One dense layer with a sigmoid and a squared loss: the smallest complete example.

    z = W x + b,    a = sigma(z),    L = 1/2 ||a - y||^2
"""
import sympy as sp

from symderive import Derivation, Model, Sizes, derive, sigmoid, squared_norm
from symderive.document.document import Document
from symderive.document.prose import by_layout, say
from symderive.matrix.sections import adjoint_section, gradients_section, model_section

n, d = sp.symbols("n d", integer=True, positive=True)


TITLE = "A dense layer with a sigmoid and a squared loss"


def model() -> Model:
    m = Model("dense")
    W, b = m.param("W", n, d), m.param("b", n)
    x, y = m.input("x", d), m.input("y", n)
    z = m.let("z", W @ x + b)
    a = m.let("a", sigmoid(z))
    m.loss(squared_norm(a - y) / 2)
    return m


def document(der: Derivation, options) -> Document:
    sections = (
        model_section(der, options),
        adjoint_section(der, options),
        gradients_section(der, options, text=say(options,
            r"Substituting the adjoints: the error signal $\bar z = (a - y) \odot a \odot (1 - a)$ "
            rf"reaches the weights as an outer product with the input, ${outer(options)}$: the weight joining input "
            r"$j$ to unit $i$ gets $\bar z_i x_j$, the error of the unit times what came in on that weight.",
            r"수반을 대입하면, 오차 신호 $\bar z = (a - y) \odot a \odot (1 - a)$가 입력과의 외적 "
            rf"${outer(options)}$ 꼴로 가중치에 전달됩니다. 입력 $j$와 유닛 $i$를 잇는 가중치는 $\bar z_i x_j$, 곧 그 "
            r"유닛의 오차에 그 가중치로 들어온 입력을 곱한 값을 받습니다.")),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "backpropagation", "dense"))


def outer(options) -> str:
    return by_layout(options, r"\bar z\, x^\top", r"x^\top \bar z")


def build() -> Derivation:
    return derive(
        model(),
        title=TITLE,
        summary=(r"One dense layer with a sigmoid and the loss $L = \frac{1}{2}\|a - y\|^2$, "
                 r"differentiated in reverse mode."),
        title_ko="시그모이드와 제곱 손실을 쓰는 완전연결층",
        summary_ko=(r"시그모이드 활성화를 쓰는 완전연결층 하나와 손실 $L = \frac{1}{2}\|a - y\|^2$을 역방향 모드로 "
                    r"미분합니다. 모든 역전파 유도의 가장 작은 완전한 예입니다."),
        sizes=Sizes(small={n: 2, d: 3}, numeric={n: 16, d: 8}, large={n: 256, d: 128}),
        build_document=document,
    )
