r"""The glue to the ANTLR parser of ``latex2sympy2_extended``: SLL prediction first, errors with a caret,
and the placeholders put back.

The parser sees the reader's text, in which everything that carries meaning is a placeholder
``\variable{Qk}``; it only does the arithmetic it is good at (precedence of ``+ - \cdot / ^``, implicit
products, groups, ``\frac``, ``\sum``/``\prod`` bodies). Its ``*`` is the Hadamard product (the reader
writes ``\odot``, ``\circ`` and ``*`` as ``*``) and its symbols are non-commutative.
"""
from __future__ import annotations

import sympy as sp
from antlr4.atn.PredictionMode import PredictionMode
from antlr4.error.ErrorStrategy import BailErrorStrategy
from latex2sympy2_extended.latex2sympy2 import ConversionConfig, _Latex2Sympy

from symderive.errors import LatexParseError
from symderive.latex.numbers import bound_numbers, bound_powers, evaluate_numbers
from symderive.latex.parsed import BIG_OPERATORS, TRANSPOSE_MARK, Context, hadamard, transpose
from symderive.latex.tokens import Token


class AntlrConverter(_Latex2Sympy):
    """A latex2sympy2_extended converter whose symbols are non-commutative and whose ``*`` is ⊙."""

    def create_symbol(self, text, enforce_case=False):
        return sp.Symbol(text, commutative=False)

    def convert_math(self, math):
        """The body of ``_Latex2Sympy.parse`` after the parse (we run the parser ourselves)."""
        if math.set_elements():
            return self.convert_set_elements(math.set_elements())
        raise LatexParseError("expected an expression")

    def convert_mp(self, mp):
        if mp.MUL():
            left, right = (mp.mp(0), mp.mp(1)) if hasattr(mp, "mp") else (mp.mp_nofunc(0), mp.mp_nofunc(1))
            return hadamard(self.convert_mp(left), self.convert_mp(right))
        return super().convert_mp(mp)


def _converter() -> AntlrConverter:
    """The converter, with symbols kept as written (not lower-cased)."""
    return AntlrConverter(config=ConversionConfig(lowercase_symbols=False))


_CONVERTER = None


def antlr_parse(text: str):
    """Parse with SLL prediction first (about 10x faster), falling back to full LL on failure."""
    global _CONVERTER
    if _CONVERTER is None:
        _CONVERTER = _converter()
    parser = _CONVERTER.create_parser(text)
    parser._interp.predictionMode = PredictionMode.SLL
    parser._errHandler = BailErrorStrategy()
    try:
        return _CONVERTER.convert_math(parser.math())
    except RecursionError:  # too deep for either prediction mode
        raise
    except Exception:  # SLL could not decide: the full-context parse reports real errors
        parser = _CONVERTER.create_parser(text)
        return _CONVERTER.convert_math(parser.math())


def run_parser(text: str, ctx: Context, tokens: list[Token], origins: list):
    """Parse the layer's output ``text`` and put back what the placeholders stand for."""
    start = tokens[0].pos if tokens else 0
    try:
        expr = antlr_parse(text)
        if isinstance(expr, sp.Basic):
            bound_powers(expr, ctx.source, start)
            expr = evaluate_numbers(expr)
        expr = resolve(expr, ctx)
    except LatexParseError:
        raise
    except RecursionError:
        raise LatexParseError("the formula is nested too deeply", ctx.source, start) from None
    except Exception as e:
        reason, column = antlr_reason(e)
        position = (max((pos for offset, pos in origins if offset <= column), default=start)
                    if column is not None else start)
        if column is not None and column >= len(text):
            position = tokens[-1].pos + len(tokens[-1].text) if tokens else start
        raise LatexParseError(f"cannot read this: {reason}", ctx.source, position) from None
    bound_numbers(expr, ctx.source, start)
    return expr


def antlr_reason(e: Exception) -> tuple[str, int | None]:
    """The first line of the parser's message and the column its caret line points at."""
    lines = str(e).splitlines() or [type(e).__name__]
    column = len(lines[-1]) - 1 if len(lines) >= 3 and lines[-1].endswith("^") else None
    return lines[0].replace("I expected something else here", "unexpected input"), column


def resolve(expr, ctx: Context):
    """Placeholders -> their values; ``x^{QT}`` -> ``transpose(x)``; sums and products as the reader's
    (never numbers to SymPy), before their bounds become numbers."""
    if isinstance(expr, (tuple, list)) or not isinstance(expr, sp.Basic):
        raise LatexParseError("expected one expression", ctx.source, 0)
    expr = expr.replace(lambda e: e.is_Pow and e.exp == TRANSPOSE_MARK, lambda e: transpose(e.base))
    if expr.has(TRANSPOSE_MARK):
        raise LatexParseError("a transpose mark is misplaced", ctx.source, 0)
    expr = expr.replace(lambda e: type(e) in BIG_OPERATORS, lambda e: BIG_OPERATORS[type(e)](*e.args))
    return expr.xreplace(ctx.table)
