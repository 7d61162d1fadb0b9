r"""Atoms: one symbol with its parts as written, and the indices its subscripts denote.

An atom is read whole: its font (``\mathbf``, ``\boldsymbol``), accent (``\hat y`` is its own name
``yhat``), label subscripts (``W_{hh}``, ``b_f``), index subscripts (``h_{t-1}``, ``x_{i+j-1}``,
``\delta_{ij}``), layer label ``W^{(1)}`` (part of the name), transposes (``^T ^{T} ^\top ^{\top}
^\intercal``), primes and power. It reaches the parser as one placeholder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import LatexParseError
from symderive.latex.parsed import IDENTITY, ONES, Context, index_symbol, indexed, matrix_symbol, transpose
from symderive.latex.tokens import TRANSPOSES, Cursor, Token, closing, split_top, text_of
from symderive.latex.words import CALLABLE_LETTERS, GREEK

#: spacing commands skipped in an index (``\\delta_{m',\\, S i + p}``)
SPACES = frozenset({r"\,", r"\;", r"\!", r"\:", "~"})
INDEX_LETTERS = frozenset({"i", "j", "k", "l", "s", "t", "tau", "T"})
FONTS_BOLD = frozenset({"mathbf", "boldsymbol", "bm", "mathbfit", "vec", "pmb"})
FONTS_PLAIN = frozenset({"mathrm", "mathit", "mathsf", "mathnormal", "text", "textrm", "operatorname", "mathcal",
                         "mathbb"})
ACCENTS = {"hat": "hat", "widehat": "hat", "tilde": "tilde", "widetilde": "tilde", "bar": "bar", "overline": "bar",
           "dot": "dot", "check": "check"}


@dataclass
class Atom:
    """The parts of one symbol as written."""

    ctx: Context
    pos: int
    letters: str = ""
    accents: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    indices: list = field(default_factory=list)
    layer: str = ""
    primes: int = 0
    transposed: bool = False
    bold: bool = False
    special: str = ""
    power: str = ""
    tag: str = ""

    def tagged(self, text: str) -> bool:
        r"""A letter over a Greek letter names it (``\delta^{c}``, ``\delta^h``: the adjoint of c, of h), as
        the documents write one adjoint per state; ``T`` stays a transpose, a number a power."""
        return self.letters in GREEK and len(text) == 1 and text.isalpha() and text != "T" and not self.tag

    @property
    def callable(self) -> bool:
        return self.letters in CALLABLE_LETTERS and not self.labels and not self.layer

    @property
    def name(self) -> str:
        name = self.letters + "".join(self.accents) + "'" * self.primes
        if self.labels:
            name += "_" + "".join(self.labels)
        if self.layer:
            name += f"^({self.layer})"
        if self.tag:
            name += f"^{self.tag}"
        return name

    def merge(self, inner: Atom):
        self.letters = inner.letters
        self.special = inner.special
        self.accents += inner.accents
        self.labels += inner.labels
        self.indices += inner.indices
        self.layer = self.layer or inner.layer
        self.tag = self.tag or inner.tag
        self.primes += inner.primes
        self.transposed ^= inner.transposed
        self.bold = self.bold or inner.bold
        self.power = self.power or inner.power

    def subscript(self, tokens: list[Token], reader: Cursor):
        if not tokens:
            reader.error("an empty subscript")
        indices = subscript_indices(tokens, self.ctx)
        if indices is None:
            self.labels.append(text_of(tokens).replace("\\", "").replace(" ", ""))
        else:
            self.indices += indices

    def superscript(self, tokens: list[Token], reader: Cursor):
        text = text_of(tokens)
        if len(tokens) > 3 and tokens[0].text == "(" and tokens[-1].text in TRANSPOSES and tokens[-2].text == ")":
            self.superscript(tokens[:-1], reader)  # W^{(2)\top}: the layer and a transpose in one superscript
            self.transposed = not self.transposed
        elif text in TRANSPOSES:
            self.transposed = not self.transposed
        elif text in (r"\prime", "'", r"\prime\prime"):
            self.primes += text.count("prime") or 1
        elif len(tokens) >= 3 and tokens[0].text == "(" and tokens[-1].text == ")":
            self.layer = text_of(tokens[1:-1])
        elif text in ("*", r"\ast", r"\star"):
            self.labels.append("*")
        elif self.tagged(text):
            self.tag = text
        elif text == "-1":
            reader.error("matrix inverses are not supported")
        else:
            self.power = "^{" + reader.nested(tokens).text() + "}"

    def value(self):
        if self.special == "1":
            value = ONES
        elif self.special in ("I",) or (self.letters == "I" and not self.labels and not self.indices):
            value = IDENTITY
        elif self.special == "0":
            value = sp.S.Zero
        elif self.letters == "delta" and len(self.indices) == 2 and not self.labels:
            value = sp.KroneckerDelta(*self.indices)
        elif self.name == "T" and not self.indices:  # the sequence length
            value = index_symbol("T")
        elif self.indices:
            value = indexed(self.name, *self.indices)
        else:
            value = matrix_symbol(self.name)
        return transpose(value) if self.transposed else value


class AtomReading(Cursor):
    """The reader's part that reads one atom (mixed into :class:`symderive.latex.reader.Reader`)."""

    def atom(self) -> Atom:
        """A symbol with its font, accent, subscripts, layer label, primes, transposes and power."""
        start = self.pos()
        atom = Atom(self.ctx, start)
        self.base(atom)
        while self.peek() in ("_", "^", "'"):
            text = self.next_text()
            if text == "'":
                atom.primes += 1
            elif text == "_":
                atom.subscript(self.group(), self)
            else:
                atom.superscript(self.group(), self)
        return atom

    def base(self, atom: Atom):
        """The letters of the atom: a letter, a Greek letter, or a font or accent around an atom."""
        text = self.peek()
        if text is None:
            self.error("a symbol is missing here")
        command = text[1:] if text[0] == "\\" else None
        if command in FONTS_BOLD or command in FONTS_PLAIN or command in ACCENTS:
            self.decorated_base(atom, command)
            return
        if command in GREEK:
            self.i += 1
            atom.letters = command
            return
        if command == "partial":
            self.error("a derivative must be written \\frac{\\partial A}{\\partial B}, "
                       "\\partial_{B} A or \\nabla_{B} A")
        if command is not None:
            self.error(f"unknown command {text}")
        if text.isalpha():
            self.i += 1
            atom.letters = text
            return
        self.error(f"unexpected {text!r}")

    def decorated_base(self, atom: Atom, command: str):
        r"""``\mathbf{W}``, ``\hat{y}``, ``\mathrm{softmax}``, ``\mathbf{1}``: a font or accent and what it holds."""
        self.i += 1
        inner = self.group()
        if command in ACCENTS:
            atom.accents.append(ACCENTS[command])
        if command in FONTS_BOLD:
            atom.bold = True
        word = "".join(t.text for t in inner)
        if command in FONTS_PLAIN and len(inner) > 1 and word.isalnum():
            atom.letters = word
            return
        if word in ("1", "0", "I") and command in FONTS_BOLD | {"mathbb"}:
            atom.special = word
            return
        sub = self.nested(inner)
        inner_atom = sub.atom()
        if sub.i != len(inner):
            self.error(f"\\{command}{{...}} must hold one symbol", self.toks[self.i - 1].pos)
        atom.merge(inner_atom)


# ---------------------------------------------------------------------------------------------
# Indices.


def subscript_indices(tokens: list[Token], ctx: Context):
    """The indices a subscript denotes (``t-1``, ``ij``, ``i,j``, ``0``), or None for a label (``hh``, ``f``)."""
    texts = [t.text for t in tokens]
    letters = [x.lstrip("\\") for x in texts if x.isalpha() or x[1:] in GREEK]
    index_like = INDEX_LETTERS | ctx.bound
    if all(x.isdigit() for x in texts):
        return [sp.Integer(int("".join(texts)))]
    if any(x in ("+", "-") for x in texts):
        return index_expressions(tokens, ctx)
    if "," in texts:
        return index_expressions(tokens, ctx)
    if ctx.index_level and letters and all(x in ctx.bound for x in letters):
        return index_expressions(tokens, ctx)  # x_{2i}, b_o, x_{ij}: indices of bound letters (index level)
    if len(letters) > 1 and len(set(letters)) == 1:  # W_{ii}, b_{hh}: a label (PyTorch's W_ii), not a diagonal
        return None
    if letters and all(x in index_like for x in letters) and len(letters) == len(texts):
        return [index_symbol(x) for x in letters]
    return None


def index_expressions(tokens: list[Token], ctx: Context) -> list:
    """``i, j`` or ``i+j-1`` or ``ij``: one integer expression per comma (or per letter of ``ij``)."""
    parts = split_top(tokens, {","}, ctx.source)
    if len(parts) == 1 and all(t.text.isalpha() for t in tokens) and len(tokens) > 1:
        return [index_symbol(t.text) for t in tokens]
    return [index_expression(p, ctx) for p in parts]


def index_expression(tokens: list[Token], ctx: Context):
    """An integer expression of letters and numbers with + and - (``t-1``, ``i+j-1``, ``T``, ``2t``)."""
    if not tokens:
        raise LatexParseError("an index is missing here", ctx.source, 0)
    total, sign, term, expect_term = sp.S.Zero, 1, None, True
    tokens = tokens + [Token("+", tokens[-1].pos + 1)]
    k, last = 0, None
    while k < len(tokens):
        tok, k = tokens[k], k + 1
        text = tok.text
        if text in ("+", "-"):
            if term is None and not expect_term:
                raise LatexParseError("an index term is missing", ctx.source, tok.pos)
            if term is not None:
                total += sign * term
            sign, term, expect_term = (1 if text == "+" else -1) * (sign if term is None else 1), None, False
            continue
        if text in ("'", "_") and last is not None:  # o' (a primed letter), S_{h} (a size with a label)
            label, k = ("'", k) if text == "'" else index_label(tokens, k, ctx)
            renamed = index_symbol(last.name + ("'" if text == "'" else "_" + label))
            term, last = term.subs(last, renamed), renamed
            continue
        if text == "(":  # S (i - 1): a bracketed index expression is one factor
            end = closing(tokens, k - 1, ctx.source)
            factor, k = index_expression(tokens[k:end], ctx), end + 1
        else:
            factor = index_factor(tok, ctx)
        if factor is not None:
            term = factor if term is None else term * factor
            last = factor if isinstance(factor, sp.Symbol) else None
    return total


def index_label(tokens: list[Token], k: int, ctx: Context) -> tuple[str, int]:
    """The label after ``_`` in an index (``S_{h}``, ``S_h``) as the atom reader names it, and where it ends."""
    if tokens[k].text == "{":
        end = closing(tokens, k, ctx.source)
        return text_of(tokens[k + 1:end]).replace("\\", "").replace(" ", ""), end + 1
    return tokens[k].text.lstrip("\\"), k + 1


def index_factor(tok: Token, ctx: Context):
    """One factor of an index term: a number or an index letter (None for a brace, which is skipped)."""
    text = tok.text
    if text.isdigit():
        return sp.Integer(int(text))
    if text.isalpha() or text[1:] in GREEK:
        return index_symbol(text.lstrip("\\"))
    if text in ("{", "}") or text in SPACES:
        return None
    raise LatexParseError(f"{text!r} cannot appear in an index (only letters, numbers, + and -)", ctx.source, tok.pos)
