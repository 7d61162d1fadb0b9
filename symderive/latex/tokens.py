r"""Tokens of a formula, the refusals that keep reading safe, and a cursor over the tokens.

Tokenising keeps each token's position (for the caret of an error), drops ``\left``/``\right``/``\big``,
spacing and ``\displaystyle``, and refuses what can hang or explode: long input, deep nesting, huge
numbers, ``\binom``, ``\det``, matrix environments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from symderive.errors import LatexParseError
from symderive.latex.parsed import Context

MAX_CHARS = 4000
MAX_DEPTH = 40
MAX_DIGITS = 12

SKIP = frozenset({r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr",
                  r"\biggl", r"\biggr", r"\Biggl", r"\Biggr", r"\,", r"\;", r"\:", r"\!", r"\ ", r"\quad",
                  r"\qquad", r"\displaystyle", r"\textstyle", "~", r"\limits", r"\nolimits", "&"})
REFUSED = {r"\binom": "binomial coefficients are not supported (and large ones can take forever)",
           r"\det": "determinants are not supported",
           r"\begin": ("matrix environments are not supported; "
                       "write the matrix as a symbol and give its size with --shape"),
           r"\int": "integrals are not supported",
           r"\lim": "limits are not supported",
           r"\cdots": "write the expression out instead of '...'",
           r"\ldots": "write the expression out instead of '...'",
           r"\dots": "write the expression out instead of '...'",
           r"\infty": "infinity is not supported",
           r"\choose": "binomial coefficients are not supported"}
TRANSPOSES = frozenset({"T", r"\top", r"\intercal", r"\mathsf{T}", r"\mathrm{T}", r"\mathsf T", "\\mathrm T"})
HADAMARD = frozenset({"*", r"\odot", r"\circ", r"\ast", "⊙", "∘"})
PRODUCT = frozenset({r"\cdot", r"\times", "·", "×"})
EQUALS = frozenset({"=", r"\coloneqq", r"\triangleq", r"\equiv", r"\eqqcolon", r"\doteq"})
UNICODE = {"σ": r"\sigma", "δ": r"\delta", "η": r"\eta", "ℓ": r"\ell", "∂": r"\partial", "∇": r"\nabla", "∑": r"\sum",
           "∏": r"\prod", "τ": r"\tau", "φ": r"\phi", "ᵀ": "^T", "λ": r"\lambda", "α": r"\alpha", "⊤": r"\top"}

TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\S", re.UNICODE)


@dataclass(frozen=True)
class Token:
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source`` with their positions, after the safety checks; spacing dropped."""
    if len(source) > MAX_CHARS:
        raise LatexParseError(f"input of {len(source)} characters is longer than the limit of {MAX_CHARS}",
                              source, MAX_CHARS)
    tokens, depth = [], 0
    for m in TOKEN.finditer(source):
        text, pos = m.group(), m.start()
        text = UNICODE.get(text, text)
        if text in SKIP:
            continue
        refuse(text, source, pos)
        depth = nesting(depth, text, source, pos)
        if text == "^T":  # the Unicode superscript T
            tokens += [Token("^", pos), Token("T", pos)]
            continue
        if not (text.isascii() or text in HADAMARD | PRODUCT):
            raise LatexParseError(f"unexpected character {text!r}", source, pos)
        tokens.append(Token(text, pos))
    return tokens


def refuse(text: str, source: str, pos: int):
    """Raise for a token that is refused: an unsupported command, or a number of too many digits."""
    if text in REFUSED:
        raise LatexParseError(REFUSED[text], source, pos)
    if text[0].isdigit() and len(text.replace(".", "")) > MAX_DIGITS:
        raise LatexParseError(f"a number of more than {MAX_DIGITS} digits is refused", source, pos)


def nesting(depth: int, text: str, source: str, pos: int) -> int:
    """The bracket depth after the token ``text``; deeper than ``MAX_DEPTH`` is refused."""
    if text in ("{", "(", "[") or text in (r"\{", r"\lbrace"):
        depth += 1
        if depth > MAX_DEPTH:
            raise LatexParseError(f"nesting deeper than {MAX_DEPTH} levels is refused", source, pos)
    elif text in ("}", ")", "]") or text in (r"\}", r"\rbrace"):
        depth -= 1
    return depth


def closing(tokens: list[Token], i: int, source: str) -> int:
    """The index of the bracket that closes the one at ``tokens[i]``."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    opening, depth = tokens[i].text, 0
    for k in range(i, len(tokens)):
        if tokens[k].text == opening:
            depth += 1
        elif tokens[k].text == pairs[opening]:
            depth -= 1
            if depth == 0:
                return k
    raise LatexParseError(f"this {opening} is never closed", source, tokens[i].pos)


def split_top(tokens: list[Token], separators, source: str) -> list[list[Token]]:
    """``tokens`` split at separators outside every bracket."""
    parts, current, depth = [], [], 0
    for tok in tokens:
        if tok.text in ("{", "(", "["):
            depth += 1
        elif tok.text in ("}", ")", "]"):
            depth -= 1
            if depth < 0:
                raise LatexParseError(f"this {tok.text} closes nothing", source, tok.pos)
        if depth == 0 and tok.text in separators:
            parts.append(current)
            current = []
        else:
            current.append(tok)
    return parts + [current]


def text_of(tokens: list[Token]) -> str:
    return "".join(tok.text if not tok.text[0] == "\\" or len(tok.text) == 2 else tok.text + " "
                   for tok in tokens).strip()


class Cursor:
    """A position in one token list, and the reads every reader shares: the next token, the next argument,
    a bracketed span, and an error with a caret at the cursor."""

    def __init__(self, ctx: Context, tokens: list[Token]):
        self.ctx, self.toks, self.i = ctx, tokens, 0

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j].text if j < len(self.toks) else None

    def pos(self) -> int:
        return self.toks[self.i].pos if self.i < len(self.toks) else (self.toks[-1].pos + 1 if self.toks else 0)

    def error(self, message: str, pos: int | None = None):
        raise LatexParseError(message, self.ctx.source, self.pos() if pos is None else pos)

    def nested(self, tokens: list[Token]):
        """A reader of the same kind over ``tokens`` of the same formula (an argument, a group, a superscript)."""
        return type(self)(self.ctx, tokens)

    def next_text(self) -> str:
        self.i += 1
        return self.toks[self.i - 1].text

    def group(self) -> list[Token]:
        """The next argument: ``{...}`` (without braces) or a single token."""
        if self.i >= len(self.toks):
            self.error("an argument is missing here")
        if self.peek() == "{":
            end = closing(self.toks, self.i, self.ctx.source)
            inner = self.toks[self.i + 1:end]
            self.i = end + 1
            return inner
        if self.peek() in ("}", ")", "]"):
            self.error("an argument is missing here")
        tok = self.toks[self.i]
        if tok.text.isdigit() and len(tok.text) > 1:  # \frac12: one digit per argument, as TeX reads it
            self.toks = (self.toks[:self.i] + [Token(tok.text[0], tok.pos), Token(tok.text[1:], tok.pos + 1)]
                         + self.toks[self.i + 1:])
        self.i += 1
        return [self.toks[self.i - 1]]

    def bracketed(self) -> list[Token]:
        """The tokens inside the ``(...)`` or ``[...]`` at the cursor."""
        end = closing(self.toks, self.i, self.ctx.source)
        inner = self.toks[self.i + 1:end]
        self.i = end + 1
        return inner
