"""One base exception with subclasses, each carrying a message a person can act on."""
from __future__ import annotations


class SymderiveError(Exception):
    """Base of every error symderive raises on bad input; the CLI prints it and exits 2."""


class UnknownDerivationError(SymderiveError, KeyError):
    """A derivation name that is not registered; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(f"unknown derivation {name!r}; known derivations: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ShapeMismatchError(SymderiveError, ValueError):
    """Two shapes that must agree do not; the message names both."""


class ModelError(SymderiveError):
    """A model program that cannot be derived (undefined variable, unsupported time offset, ...)."""


class OptionError(SymderiveError, ValueError):
    """A bad option value (a truncation length of 0, an unknown format, ...)."""


class ExportError(SymderiveError):
    """A file that could not be written (exists without --force, unwritable directory)."""
