"""symderive: derive, render, export and verify the gradients of deep-learning models.

    >>> from symderive import derivation
    >>> d = derivation("rnn")
    >>> d.to_latex()              # the derivation of BPTT as LaTeX (or "markdown", "tex")
    >>> d.verify().passed         # three-way verification of every gradient
    >>> d.export("rnn_grad.py")   # a standalone NumPy module: SHAPES, forward, loss, grad
"""
from __future__ import annotations

from symderive.errors import (ExportError, LatexParseError, ModelError, OptionError, ShapeMismatchError, SymderiveError,
                     UnknownDerivationError, UnknownSymbolError)

__all__ = ["derivation", "available", "SymderiveError", "UnknownDerivationError", "ShapeMismatchError",
           "ModelError", "OptionError", "ExportError", "LatexParseError", "UnknownSymbolError", "check", "parse_latex"]

_cache: dict = {}


def available() -> dict[str, str]:
    """Name -> one-line description of every built-in derivation, in teaching order."""
    from symderive.derivations import REGISTRY

    return {name: module.TITLE for name, module in REGISTRY.items()}


def derivation(name: str):
    """The built-in derivation ``name`` (see :func:`available`)."""
    from symderive.derivations import REGISTRY

    if name not in REGISTRY:
        raise UnknownDerivationError(name, list(REGISTRY))
    if name not in _cache:
        _cache[name] = REGISTRY[name].build()
    return _cache[name]


def check(model=None, claims=(), where=(), shapes=None, derivation=None):
    """Judge hand-derived LaTeX claims (see :func:`symderive.check.check`); returns a list of ClaimResult."""
    from symderive.judge.check import check as run

    return run(model=model, claims=claims, where=where, shapes=shapes, derivation=derivation)


def parse_latex(source: str):
    """The normalised parse of one LaTeX formula (see :mod:`symderive.latex_input`)."""
    from symderive.latex.reader import parse_latex as run

    return run(source)
