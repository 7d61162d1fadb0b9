r"""Constructs that span several tokens: superscripts of groups, norms, square roots, fractions and
derivatives, sums and products.

Derivatives (``\frac{\partial L}{\partial W}``, ``\frac{dL}{dW}``, ``\partial_W L``, ``\nabla_W L``) and
norms ``\|v\|^2`` become one placeholder each, their parts parsed on their own. Sum and product bounds
are read here (so ``^{T}`` after ``\sum`` is a bound, not a transpose) and their variables bound.
"""
from __future__ import annotations

import sympy as sp

from symderive.latex.atoms import index_expression
from symderive.latex.parsed import index_symbol, norm, partial
from symderive.latex.tokens import TRANSPOSES, Cursor, Token, split_top, text_of
from symderive.latex.words import GREEK

#: an opening norm bar -> the bars that close it
NORM_CLOSERS = {r"\|": {r"\|"}, r"\Vert": {r"\Vert"}, r"\lVert": {r"\rVert"}, "|": {"|"}, r"\lvert": {r"\rvert"}}


class ConstructReading(Cursor):
    """The reader's part that reads multi-token constructs (mixed into :class:`symderive.latex.reader.Reader`,
    whose ``expression``, ``emit`` and ``single_argument`` it uses)."""

    def postfix_of_group(self):
        while self.peek() == "^":
            at = self.pos()
            self.i += 1
            self.superscript_of_group(at)

    def superscript_of_group(self, at: int):
        if not self.out:
            self.error("a superscript needs something before it", at)
        sup = self.group()
        text = text_of(sup)
        if text in TRANSPOSES:
            self.emit(r"^{\variable{QT}}")
        elif text == "-1":
            self.error("matrix inverses are not supported", at)
        elif text in (r"\prime", "'"):
            self.error("a prime is only supported on a symbol or a function name", at)
        else:
            self.emit("^{" + self.nested(sup).text() + "}")

    def norm(self):
        r"""``\|v\|`` or ``\lVert v \rVert_2`` (the 2-norm or Frobenius norm); ``|x|`` is refused."""
        start = self.pos()
        opening = self.next_text()
        k = self.norm_end(opening, start)
        inner = self.toks[self.i:k]
        self.i = k + 1
        if opening in ("|", r"\lvert"):
            self.error("absolute values |x| are not supported; a norm is written \\|x\\|", start)
        value = norm(self.expression(inner, start))
        if self.peek() == "_":
            self.i += 1
            if text_of(self.group()) not in ("2", "F"):
                self.error("only the 2-norm (or Frobenius norm) is supported", start)
        self.emit(self.ctx.placeholder(value))
        self.postfix_of_group()

    def norm_end(self, opening: str, start: int) -> int:
        """The index of the bar that closes the norm opened by ``opening``, outside every bracket."""
        closers = NORM_CLOSERS[opening]
        depth = 0
        for k in range(self.i, len(self.toks)):
            t = self.toks[k].text
            depth += t in ("{", "(", "[")
            depth -= t in ("}", ")", "]")
            if depth == 0 and t in closers:
                return k
        self.error("this norm is never closed", start)

    def square_root(self):
        self.i += 1
        if self.peek() == "[":
            self.error("only square roots are supported")
        self.emit(r"\sqrt{" + self.nested(self.group()).text() + "}")

    def fraction(self):
        r"""``\frac{a}{b}``, or the derivative ``\frac{\partial A}{\partial B}`` (also ``\frac{dA}{dB}``)."""
        start = self.pos()
        self.i += 1
        num, den = self.group(), self.group()
        d_num, d_den = differential(num), differential(den)
        if d_num is not None and d_den is not None:
            wrt = self.expression(d_den, start)
            of = self.expression(d_num, start) if d_num else self.derivative_operand(start)
            self.emit(self.ctx.placeholder(partial(of, wrt)))
            return
        self.emit(r"\frac{" + self.nested(num).text() + "}{" + self.nested(den).text() + "}")

    def derivative_operand(self, start: int):
        """What ``\\frac{\\partial}{\\partial x}`` or ``\\partial_x`` applies to: the next group or atom."""
        if self.peek() in ("(", "["):
            return self.expression(self.bracketed(), start)
        if self.peek() == "{":
            return self.expression(self.group(), start)
        if self.i >= len(self.toks):
            self.error("the derivative applies to nothing", start)
        return self.single_argument()

    def operator_derivative(self):
        r"""``\partial_{B} A`` and ``\nabla_{B} A``: the derivative of A with respect to B."""
        start = self.pos()
        self.i += 1
        if self.peek() != "_":
            self.error("write a derivative as \\frac{\\partial A}{\\partial B}, "
                       "\\partial_{B} A or \\nabla_{B} A", start)
        self.i += 1
        wrt = self.expression(self.group(), start)
        self.emit(self.ctx.placeholder(partial(self.derivative_operand(start), wrt)))

    def big_operator(self):
        r"""``\sum_{t=1}^{T}`` or ``\prod_{j}``: the bounds (the upper one defaults to T for t, else N_var)
        as placeholders, the variable bound for the subscripts of the body."""
        start = self.pos()
        op = self.next_text()
        lower = upper = None
        while self.peek() in ("_", "^"):
            if self.next_text() == "_":
                lower = self.group()
            else:
                upper = self.group()
        if lower is None:
            self.error(f"{op} needs its index: {op}_{{t=1}}^{{T}}", start)
        var_part, *lo_part = split_top(lower, {"="}, self.ctx.source)
        letters = split_top(var_part, {","}, self.ctx.source)
        if any(len(v) != 1 or not (v[0].text.isalpha() or v[0].text[1:] in GREEK) for v in letters):
            self.error(f"the index of {op} must be one letter (as in {op}_{{t=1}}^{{T}}) or letters "
                       f"separated by commas ({op}_{{c,p,q}})", start)
        for v in letters:
            self.bound_operator(op, v[0].text.lstrip("\\"), lo_part, upper)

    def bound_operator(self, op: str, var: str, lo_part: list, upper):
        """One ``op_{var=lo}^{hi}`` for the parser (the bounds as placeholders), the variable bound; in an
        index-level formula a sum without bounds is marked implicit (its range comes from the model)."""
        self.ctx.bound.add(var)
        if self.ctx.index_level and not lo_part and upper is None:
            self.ctx.implicit.add(var)
        lo = index_expression(lo_part[0], self.ctx) if lo_part else sp.S.One
        hi = index_expression(upper, self.ctx) if upper is not None else index_symbol("T" if var == "t" else f"N_{var}")
        ph = lambda v: self.ctx.placeholder(v)  # noqa: E731
        self.emit(f"{op}_{{{ph(index_symbol(var))}={ph(lo)}}}^{{{ph(hi)}}}")

def differential(tokens: list[Token]):
    """For ``\\partial A``, ``dA``, ``\\mathrm{d}A``: the tokens of A ([] for a bare ``\\partial``); else None."""
    if tokens and tokens[0].text == r"\partial":
        return tokens[1:]
    if len(tokens) >= 2 and tokens[0].text == "d" and tokens[1].text not in ("_", "^", "'"):
        return tokens[1:]
    if tokens and [t.text for t in tokens[:4]] == [r"\mathrm", "{", "d", "}"]:
        return tokens[4:] if len(tokens) > 4 else None
    if len(tokens) == 1 and tokens[0].text == "d":
        return []
    return None


#: the reading of a construct, by the token it starts with
CONSTRUCTS = {**dict.fromkeys(NORM_CLOSERS, ConstructReading.norm),
              **dict.fromkeys((r"\frac", r"\dfrac", r"\tfrac"), ConstructReading.fraction),
              r"\sqrt": ConstructReading.square_root,
              **dict.fromkeys((r"\sum", r"\prod"), ConstructReading.big_operator),
              **dict.fromkeys((r"\partial", r"\nabla"), ConstructReading.operator_derivative),
              "^": ConstructReading.postfix_of_group}
