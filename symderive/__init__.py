r"""symderive: derive, render, export and verify the gradients of deep-learning models.

    >>> import symderive as sd
    >>> d = sd.derivation("rnn")          # a built-in (sd.available() lists them)
    >>> d.to_latex("markdown")            # the derivation of BPTT ("latex", "markdown" or "tex")
    >>> d.verify().passed                 # every gradient checked three ways
    >>> d.export("rnn_grad.py")           # a standalone NumPy module: SHAPES, forward, loss, grad

A model of one's own is written with :class:`Model` and gets the same object from :func:`derive`:

    >>> m = sd.Model("cell")
    >>> n, d = m.sizes("n d")
    >>> W, U, x, y = m.param("W", n, n), m.param("U", n, d), m.sequence("x", d), m.sequence("y", n)
    >>> h = m.state("h", n)
    >>> m.let(h, sd.sigmoid(W @ h.prev + U @ x))
    >>> m.loss(sd.squared_norm(h - y) / 2)
    >>> sd.derive(m).verify().passed

:func:`check` judges gradients derived by hand in LaTeX; :func:`deffunction` registers an elementwise
function (everything about it in one place).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy

from symderive.errors import (
    ExportError,
    LatexParseError,
    ModelError,
    OptionError,
    ShapeMismatchError,
    SymderiveError,
    UnknownDerivationError,
    UnknownSymbolError,
)
from symderive.latex.reader import parse_latex as read_latex
from symderive.matrix.engine import Sizes
from symderive.model import (
    Model,
    apply,
    binary_cross_entropy,
    cross_entropy,
    divide,
    exp,
    hadamard,
    log,
    log_softmax,
    ones_like,
    power,
    relu,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    squared_norm,
    sum_entries,
    tanh,
    times,
)
from symderive.ops.registry import Activation, deffunction
from symderive.options import RenderOptions
from symderive.pipeline import Derivation, derive

# isort: split
# The built-ins are written through the names above, and the checker judges claims against them.
from symderive.derivations import available, derivation
from symderive.judge.check import ClaimResult
from symderive.judge.check import check as judge

__all__ = ["derivation", "available", "derive", "Derivation", "Model", "Sizes", "RenderOptions", "check",
           "parse_latex", "ClaimResult", "deffunction", "Activation", "apply", "tanh", "sigmoid", "relu", "softplus",
           "exp", "log", "sqrt", "hadamard", "power", "divide", "squared_norm", "sum_entries", "ones_like", "softmax",
           "log_softmax", "cross_entropy", "binary_cross_entropy", "times", "SymderiveError", "UnknownDerivationError",
           "ShapeMismatchError", "ModelError", "OptionError", "ExportError", "LatexParseError", "UnknownSymbolError",
           "__version__"]

#: The release, read by setuptools for the package metadata (pyproject.toml: dynamic version).
__version__ = "0.1.0"


def check(model: str | Sequence[str] | None = None, claims: str | Sequence[str] = (), where: str | Sequence[str] = (),
          shapes: Mapping[str, str] | Sequence[str] | None = None,
          derivation: str | Derivation | None = None, ranges: Sequence[str] | None = None,
          index_base: int | None = None) -> list[ClaimResult]:
    r"""Judge hand-derived gradients written in LaTeX, one :class:`~symderive.judge.check.ClaimResult` per claim.

    The subject is either ``model``, forward equations in LaTeX whose last one defines the loss, or a built-in
    matrix-level ``derivation`` (dense, rnn, lstm, gru; a name or the derivation). Each claim
    ``\frac{\partial L}{\partial W} = ...`` is "equal" when it matches the derived gradient numerically at two
    sets of sizes and symbolically at the first, else "not_equal" with a diagnosis (a missing transpose, a missing
    ``1 - h^2``, ...), or "error" with the reason it could not be read. ``where`` adds definitions used in the
    claims (``\delta_t = ...``); ``shapes`` gives sizes (``{"W_{hh}": "n x n"}`` or ``["W_{hh}: n x n"]``).
    A model that cannot be read raises :class:`SymderiveError`. An index-level model (``h_i = \sigma(\sum_{j=1}^{k}
    V_j x_{i+j-1})``) or built-in (conv1d, conv2d, pool2d, cnn) is judged entry by entry, with ``ranges``
    (``["i: 1..m"]``) and ``index_base`` (0 or 1) for its indices.
    """
    return judge(model=model, claims=claims, where=where, shapes=shapes, derivation=derivation, ranges=ranges,
                 index_base=index_base)


def parse_latex(source: str) -> sympy.Basic:
    r"""The normalised SymPy reading of one LaTeX formula: ``Eq(lhs, rhs)`` for an equation, else the expression.

    Matrix symbols stay non-commutative, and transposes, Hadamard products, time subscripts (``h_{t-1}`` reads
    ``h[t - 1]``) and partial derivatives are kept. Input that cannot be read raises :class:`LatexParseError`
    with the position and a caret.
    """
    return read_latex(source)
