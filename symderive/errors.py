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


class LatexParseError(SymderiveError, ValueError):
    """LaTeX that cannot be read; the message shows the input with a caret under the position."""

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.reason, self.text, self.position = message, text, position
        if text and position is not None:
            shown, caret = excerpt(text, position)
            message = f"{message}\n  {shown}\n  {caret}"
        super().__init__(message)


class UnknownSymbolError(SymderiveError, KeyError):
    """A symbol in a claim that the model does not define; the message lists the known ones."""

    def __init__(self, name: str, known: list[str], where: str = "a claim"):
        self.name, self.known = name, known
        super().__init__(f"unknown symbol {name} in {where}; the model's symbols are: {', '.join(known)}")

    def __str__(self) -> str:
        return self.args[0]


def excerpt(text: str, position: int, width: int = 70) -> tuple[str, str]:
    """A one-line window of ``text`` around ``position`` and the caret line under it."""
    position = max(0, min(position, len(text)))
    start = max(0, position - width // 2)
    shown = text[start:start + width].replace("\n", " ")
    return shown, " " * (position - start) + "^"
