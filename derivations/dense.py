"""One dense layer with a sigmoid and a squared loss: the smallest complete example.

    z = W x + b,    a = sigma(z),    L = 1/2 ||a - y||^2
"""
import sympy as sp

from symderive.pipeline import Derivation, Sizes
from symderive.document import Document
from symderive.expr import SquaredNorm, sigma
from symderive.model import Assign, Program
from symderive.sections import adjoint_section, gradients_section, model_section

n, d = sp.symbols("n d", integer=True, positive=True)


TITLE = "A dense layer with a sigmoid and a squared loss"


def program() -> Program:
    W, b = sp.MatrixSymbol("W", n, d), sp.MatrixSymbol("b", n, 1)
    x, y = sp.MatrixSymbol("x", d, 1), sp.MatrixSymbol("y", n, 1)
    z, a = sp.MatrixSymbol("z", n, 1), sp.MatrixSymbol("a", n, 1)
    return Program(
        name="dense",
        assignments=(Assign(z, W * x + b), Assign(a, sigma(z))),
        params=(W, b),
        inputs=(x, y),
        loss=sp.Rational(1, 2) * SquaredNorm(a - y),
    )


def document(der: Derivation, options) -> Document:
    sections = (
        model_section(der, options),
        adjoint_section(der, options),
        gradients_section(der, options, text=(
            r"Substituting the adjoints: the error signal $\bar z = (a - y) \odot a \odot (1 - a)$ "
            r"reaches the weights as an outer product with the input.")),
    )
    return Document(der.title, der.summary, sections, tags=("deep-learning", "backpropagation", "dense"))


def build() -> Derivation:
    return Derivation(
        name="dense",
        title=TITLE,
        summary="One dense layer $a = \\sigma(W x + b)$ with the loss $L = \\frac{1}{2}\\|a - y\\|^2$, "
                "differentiated in reverse mode.",
        program=program(),
        build_document=document,
        sizes=Sizes(small={n: 2, d: 3}, numeric={n: 16, d: 8}, large={n: 256, d: 128}),
    )
