"""symderive: derive, render, export and verify the gradients of deep-learning models.

    >>> from symderive import derivation
    >>> d = derivation("rnn")
    >>> d.to_latex()              # the derivation of BPTT as LaTeX (or "markdown", "tex")
    >>> d.verify().passed         # three-way verification of every gradient
    >>> d.export("rnn_grad.py")   # a standalone NumPy module: SHAPES, forward, loss, grad
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    import sympy

    from symderive.judge.check import ClaimResult
    from symderive.pipeline import Derivation, IndexDerivation

__all__ = ["derivation", "available", "SymderiveError", "UnknownDerivationError", "ShapeMismatchError",
           "ModelError", "OptionError", "ExportError", "LatexParseError", "UnknownSymbolError", "check", "parse_latex",
           "__version__"]

#: The release, read by setuptools for the package metadata (pyproject.toml: dynamic version).
__version__ = "0.1.0"

_cache: dict[str, Derivation | IndexDerivation] = {}


def available() -> dict[str, str]:
    """Name -> one-line description (the title) of every built-in derivation, in teaching order:
    dense, conv1d, conv2d, pool2d, cnn, rnn, lstm, gru."""
    from symderive.derivations import REGISTRY

    return {name: module.TITLE for name, module in REGISTRY.items()}


def derivation(name: str) -> Derivation | IndexDerivation:
    """The built-in derivation ``name`` (one of :func:`available`), built once per process and then shared.

    The result renders (``to_latex``), exports a NumPy module (``export``, ``load_module``) and verifies
    every gradient three ways (``verify``). Raises :class:`UnknownDerivationError`, which lists the known
    names, for any other name.
    """
    from symderive.derivations import REGISTRY

    if name not in REGISTRY:
        raise UnknownDerivationError(name, list(REGISTRY))
    if name not in _cache:
        _cache[name] = REGISTRY[name].build()
    return _cache[name]


def check(model: str | Sequence[str] | None = None, claims: str | Sequence[str] = (), where: str | Sequence[str] = (),
          shapes: Mapping[str, str] | Sequence[str] | None = None,
          derivation: str | Derivation | None = None) -> list[ClaimResult]:
    r"""Judge hand-derived gradients written in LaTeX, one :class:`~symderive.judge.check.ClaimResult` per claim.

    The subject is either ``model``, forward equations in LaTeX whose last one defines the loss, or a built-in
    matrix-level ``derivation`` (dense, rnn, lstm, gru; a name or the derivation). Each claim
    ``\frac{\partial L}{\partial W} = ...`` is "equal" when it matches the derived gradient numerically at two
    sets of sizes and symbolically at the first, else "not_equal" with a diagnosis (a missing transpose, a missing
    ``1 - h^2``, ...), or "error" with the reason it could not be read. ``where`` adds definitions used in the
    claims (``\delta_t = ...``); ``shapes`` gives sizes (``{"W_{hh}": "n x n"}`` or ``["W_{hh}: n x n"]``).
    A model that cannot be read raises :class:`SymderiveError`.
    """
    from symderive.judge.check import check as judge

    return judge(model=model, claims=claims, where=where, shapes=shapes, derivation=derivation)


def parse_latex(source: str) -> sympy.Basic:
    r"""The normalised SymPy reading of one LaTeX formula: ``Eq(lhs, rhs)`` for an equation, else the expression.

    Matrix symbols stay non-commutative, and transposes, Hadamard products, time subscripts (``h_{t-1}`` reads
    ``h[t - 1]``) and partial derivatives are kept. Input that cannot be read raises :class:`LatexParseError`
    with the position and a caret.
    """
    from symderive.latex.reader import parse_latex as read

    return read(source)
