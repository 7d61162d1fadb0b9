r"""Reading hand-written LaTeX: our layer in front of ``latex2sympy2_extended``.

Out of the box the ANTLR parsers misread a third of the formulas of deep-learning notes silently
(``W^T x`` as ``W*x``, ``h_{t-1}`` as an opaque name, ``\sigma(z)`` as ``sigma*z``; see
``shared/LATEX_INPUT.md``). So this layer reads everything that carries meaning itself and leaves the
parser only the arithmetic it is good at (precedence of ``+ - \cdot / ^``, implicit products, groups,
``\frac``, ``\sum``/``\prod`` bodies):

1. Tokenise with positions and refuse what can hang or explode (:mod:`symderive.latex.tokens`).
2. Split on top-level ``=`` ourselves.
3. Read every *atom* ourselves: font, accent, label and index subscripts, layer label, transposes,
   primes (:mod:`symderive.latex.atoms`). Each atom becomes a placeholder ``\variable{Qk}`` the parser
   reads as one symbol.
4. Read function calls (:mod:`symderive.latex.calls`), derivatives, norms (:mod:`symderive.latex.constructs`)
   and concatenations ``[a, b]`` ourselves, parsing their arguments recursively; each becomes one placeholder.
5. Read sum and product bounds ourselves (so ``^{T}`` after ``\sum`` is a bound, not a transpose) and
   bind their variables.
6. ``\odot``, ``\circ`` and ``*`` are the Hadamard product, with the precedence of ``\cdot``.

The parser (:mod:`symderive.latex.antlr`) reads the text this layer writes, and the placeholders are
put back. The result is a SymPy expression of the forms in :mod:`symderive.latex.parsed`. Nothing is
``eval``-ed: user text reaches SymPy only through the parser's tokens.
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import LatexParseError
from symderive.latex.antlr import run_parser
from symderive.latex.atoms import AtomReading
from symderive.latex.calls import CallReading
from symderive.latex.constructs import CONSTRUCTS, ConstructReading
from symderive.latex.names import as_entry
from symderive.latex.parsed import Context, concat
from symderive.latex.tokens import EQUALS, HADAMARD, PRODUCT, Token, split_top, tokenize

#: the text the parser gets for an operator sign
SIGNS = {**dict.fromkeys(HADAMARD, "*"), **dict.fromkeys(PRODUCT, r"\cdot"), "+": "+", "-": "-", "/": "/"}
#: tokens that cannot start an item
MISPLACED = frozenset({")", "]", "}", "_", ",", ";"}) | EQUALS


class Reader(AtomReading, CallReading, ConstructReading):
    """Reads one token list left to right and writes the text the ANTLR parser sees."""

    def __init__(self, ctx: Context, tokens: list[Token]):
        super().__init__(ctx, tokens)
        self.out = []

    def emit(self, text: str):
        self.out.append((text, self.toks[max(0, min(self.i, len(self.toks)) - 1)].pos if self.toks else 0))

    def text(self) -> str:
        """The parser's text; ``self.origins`` maps its offsets back to source positions."""
        while self.i < len(self.toks):
            self.item()
        pieces, self.origins, offset = [], [], 0
        for text, pos in self.out:
            self.origins.append((offset, pos))
            pieces.append(text)
            offset += len(text) + 1
        return " ".join(pieces)

    def parse(self):
        """The tokens read and parsed: a SymPy expression."""
        return run_parser(self.text(), self.ctx, self.toks, self.origins)

    def expression(self, tokens: list[Token], where: int):
        """A sub-expression (function argument, norm, derivative part) parsed on its own."""
        if not tokens:
            raise LatexParseError("an expression is missing here", self.ctx.source, where)
        return self.nested(tokens).parse()

    # -- one item -----------------------------------------------------------------------------
    def item(self):
        """The item at the cursor: a sign or a number, a bracketed group, a construct, or an atom or a call."""
        tok = self.toks[self.i]
        text = tok.text
        if text in SIGNS or text[0].isdigit():
            self.i += 1
            self.emit(SIGNS.get(text, text))
        elif text in ("(", "{", "["):
            self.bracketed_group(tok)
        elif text in CONSTRUCTS:
            CONSTRUCTS[text](self)
        elif text in MISPLACED:
            self.misplaced(text)
        else:
            self.emit(self.operand())

    def bracketed_group(self, tok: Token):
        """``(a)``, ``{a}`` or ``[a]``: a group (with its superscripts); ``[a, b]``: a concatenation."""
        if tok.text == "[":
            inner = self.bracketed()
            parts = split_top(inner, {",", ";"}, self.ctx.source)
            if len(parts) > 1:
                self.emit(self.ctx.placeholder(concat(*(self.expression(p, tok.pos) for p in parts))))
            else:
                self.emit("(" + self.nested(inner).text() + ")")
        else:
            inner = self.bracketed() if tok.text == "(" else self.group()
            self.emit("(" + self.nested(inner).text() + ")")
        self.postfix_of_group()

    def misplaced(self, text: str):
        """The error for a token that cannot start an item."""
        if text in (")", "]", "}"):
            self.error(f"this {text} closes nothing")
        if text == "_":
            self.error("a subscript needs something before it")
        if text in (",", ";"):
            self.error(f"unexpected '{text}' (a list is only allowed inside [...] or a function's arguments)")
        self.error("only one '=' is allowed here")

    def operand(self) -> str:
        """An atom or a function call, with its postfix decorations, as parser text."""
        start = self.pos()
        name = self.function_name()
        if name is not None:
            return self.call(name, start)
        atom = self.atom()
        if atom.callable and not atom.indices and self.peek() == "(":
            return self.call(atom.name, start, primes=atom.primes)
        return self.ctx.placeholder(atom.value()) + atom.power


# ---------------------------------------------------------------------------------------------
# Entry points.


def parse_sides(source: str) -> list:
    """Every side of ``a = b [= c ...]`` as a SymPy expression (one side if there is no ``=``)."""
    return read_sides(source, index_level=False)[0]


def read_sides(source: str, index_level: bool) -> tuple[list, Context]:
    """The sides of ``a = b [= c ...]`` and the context they were read in. ``index_level``: a formula of an
    index-level model or claim (one-letter subscripts are indices, the left side's letters are bound for the
    right side, ``\\sum_{c,p,q}`` without bounds is marked implicit, ``\\max_{p,q}`` is a window maximum)."""
    if not isinstance(source, str):
        raise LatexParseError(f"expected a LaTeX string, got {type(source).__name__}")
    tokens = tokenize(source)
    if not tokens:
        raise LatexParseError("the formula is empty", source, 0)
    ctx = Context(source, index_level=index_level)
    sides = split_top(tokens, EQUALS, source)
    out = []
    for side in sides:
        if not side:
            raise LatexParseError("one side of '=' is empty", source, tokens[0].pos)
        out.append(Reader(ctx, side).parse())
        if index_level and not ctx.bound & {"_left"}:  # the left side's letters are bound for the right side
            out[-1] = as_entry(out[-1]) if len(out) == 1 else out[-1]
            ctx.bound.update(s.name for e in sp.preorder_traversal(out[-1]) if isinstance(e, sp.Indexed)
                             for s in sp.Add(*e.indices).free_symbols)
            ctx.bound.add("_left")
    return out, ctx


def parse_latex(source: str):
    r"""The normalised parse of one formula: ``Eq(lhs, rhs)`` for an equation, else the expression.

        >>> parse_latex(r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)")
        Eq(h[t], tanh(W_hh*h[t - 1] + W_xh*x[t] + b))
    """
    sides = parse_sides(source)
    if len(sides) > 2:
        raise LatexParseError("write one equation at a time (found more than one '=')", source, 0)
    return sides[0] if len(sides) == 1 else sp.Eq(sides[0], sides[1], evaluate=False)
