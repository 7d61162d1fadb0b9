r"""Reading hand-written LaTeX: our layer in front of ``latex2sympy2_extended``.

Out of the box the ANTLR parsers misread a third of the formulas of deep-learning notes silently
(``W^T x`` as ``W*x``, ``h_{t-1}`` as an opaque name, ``\sigma(z)`` as ``sigma*z``; see
``shared/LATEX_INPUT.md``). So this layer reads everything that carries meaning itself and leaves the
parser only the arithmetic it is good at (precedence of ``+ - \cdot / ^``, implicit products, groups,
``\frac``, ``\sum``/``\prod`` bodies):

1. Tokenise with positions; drop ``\left``/``\right``/``\big``, spacing and ``\displaystyle``;
   refuse what can hang or explode (long input, deep nesting, huge numbers, ``\binom``, ``\det``,
   matrix environments).
2. Split on top-level ``=`` ourselves.
3. Read every *atom* ourselves: its font (``\mathbf``, ``\boldsymbol``), accent (``\hat y`` is its own
   name ``yhat``), label subscripts (``W_{hh}``, ``b_f``), index subscripts (``h_{t-1}``,
   ``x_{i+j-1}``, ``\delta_{ij}``), layer label ``W^{(1)}`` (part of the name), transposes
   (``^T ^{T} ^\top ^{\top} ^\intercal``), primes. Each atom becomes a placeholder
   ``\variable{Qk}`` the parser reads as one symbol.
4. Read function calls (``\sigma(z)``, ``\tanh^2 c``, ``\sigma'(z)``, ``\operatorname{diag}(v)``,
   ``\max(0, z)``, ``\ell(o_t, y_t)``, ``softmax(z)_i``), derivatives (``\frac{\partial L}{\partial W}``,
   ``\frac{dL}{dW}``, ``\partial_W L``, ``\nabla_W L``), norms ``\|v\|^2`` and concatenations ``[a, b]``
   ourselves, parsing their arguments recursively; each becomes one placeholder.
5. Read sum and product bounds ourselves (so ``^{T}`` after ``\sum`` is a bound, not a transpose) and
   bind their variables.
6. ``\odot``, ``\circ`` and ``*`` are the Hadamard product, with the precedence of ``\cdot``.

The result is a SymPy expression in which matrix and vector symbols are non-commutative (the order of
``x^T W y`` is kept), time-indexed symbols are ``Indexed`` (``h[t - 1]``), index variables are integer
symbols, and the operations SymPy has no safe node for are the unevaluated functions below
(``transpose``, ``hadamard``, ``partial``, ``norm``, ``concat``, ``entry``). Nothing is ``eval``-ed:
user text reaches SymPy only through the parser's tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import LatexParseError

MAX_CHARS = 4000
MAX_DEPTH = 40
MAX_DIGITS = 12

INDEX_LETTERS = frozenset({"i", "j", "k", "l", "s", "t", "tau", "T"})
GREEK = frozenset("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi
    pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega ell""".split())
#: commands that always are functions, with the name they get
FUNCTION_COMMANDS = {"sigma": "sigma", "tanh": "tanh", "exp": "exp", "log": "log", "ln": "log", "max": "max",
                     "min": "min", "sin": "sin", "cos": "cos", "sgn": "sign"}
#: Greek letters and letters that are functions when a parenthesis follows (``\phi(z)``, ``f(x, h)``)
CALLABLE_LETTERS = frozenset({"phi", "varphi", "psi", "ell", "f", "g", "l", "F", "G"})
#: words read as function names (plain letters, ``\operatorname``, ``\mathrm``, ``\text``)
FUNCTION_WORDS = ("softmax", "sigmoid", "relu", "ReLU", "tanh", "diag", "sign", "exp", "log", "softplus")
FONTS_BOLD = frozenset({"mathbf", "boldsymbol", "bm", "mathbfit", "vec", "pmb"})
FONTS_PLAIN = frozenset({"mathrm", "mathit", "mathsf", "mathnormal", "text", "textrm", "operatorname", "mathcal",
                         "mathbb"})
ACCENTS = {"hat": "hat", "widehat": "hat", "tilde": "tilde", "widetilde": "tilde", "bar": "bar", "overline": "bar",
           "dot": "dot", "check": "check"}
SKIP = frozenset({r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr",
                  r"\biggl", r"\biggr", r"\Biggl", r"\Biggr", r"\,", r"\;", r"\:", r"\!", r"\ ", r"\quad",
                  r"\qquad", r"\displaystyle", r"\textstyle", "~", r"\limits", r"\nolimits", "&"})
REFUSED = {r"\binom": "binomial coefficients are not supported (and large ones can take forever)",
           r"\det": "determinants are not supported", r"\begin": "matrix environments are not supported; write "
           "the matrix as a symbol and give its size with --shape", r"\int": "integrals are not supported",
           r"\lim": "limits are not supported", r"\cdots": "write the expression out instead of '...'",
           r"\ldots": "write the expression out instead of '...'", r"\dots": "write the expression out instead of '...'",
           r"\infty": "infinity is not supported", r"\choose": "binomial coefficients are not supported"}
TRANSPOSES = frozenset({"T", r"\top", r"\intercal", r"\mathsf{T}", r"\mathrm{T}", r"\mathsf T", "\\mathrm T"})
HADAMARD = frozenset({"*", r"\odot", r"\circ", r"\ast", "⊙", "∘"})
PRODUCT = frozenset({r"\cdot", r"\times", "·", "×"})
EQUALS = frozenset({"=", r"\coloneqq", r"\triangleq", r"\equiv", r"\eqqcolon", r"\doteq"})
UNICODE = {"σ": r"\sigma", "δ": r"\delta", "η": r"\eta", "ℓ": r"\ell", "∂": r"\partial", "∇": r"\nabla", "∑": r"\sum",
           "∏": r"\prod", "τ": r"\tau", "φ": r"\phi", "ᵀ": "^T", "λ": r"\lambda", "α": r"\alpha", "⊤": r"\top"}

TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\S", re.UNICODE)


# ---------------------------------------------------------------------------------------------
# The nodes SymPy has no safe (unevaluated, non-commutative) form for.


class _Op(sp.Function):
    """An unevaluated, non-commutative operation of the normalised parse."""

    is_commutative = False


class transpose(_Op):
    """``A^T``."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        if isinstance(a, transpose):
            return a.args[0]
        if a.is_number:
            return a


class hadamard(_Op):
    """``a ⊙ b ⊙ ...`` (also written ``a \\circ b`` or ``a * b``)."""

    @classmethod
    def eval(cls, *args):
        if any(isinstance(a, hadamard) for a in args):
            return hadamard(*(b for a in args for b in (a.args if isinstance(a, hadamard) else (a,))))


class partial(_Op):
    """``∂A/∂B``: kept unevaluated (never ``.doit()`` a derivative of an opaque symbol)."""

    nargs = 2


class norm(_Op):
    """``||v||`` (the Euclidean or Frobenius norm)."""

    nargs = 1


class concat(_Op):
    """``[a, b, ...]``: the parts stacked into one vector."""


class entry(_Op):
    """``f(z)_i``: an entry of a function's value."""


IDENTITY = sp.Symbol("I", commutative=False)
ONES = sp.Symbol("ones", commutative=False)


def index_symbol(name: str) -> sp.Symbol:
    """The integer symbol of an index variable (``t``, ``i``, ``T``)."""
    return sp.Symbol(name, integer=True, positive=True) if name == "T" else sp.Symbol(name, integer=True)


def matrix_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, commutative=False)


def indexed(name: str, *indices) -> sp.Indexed:
    """``name_{indices}`` as ``Indexed`` of a non-commutative base (``h[t - 1]``)."""
    return sp.IndexedBase(matrix_symbol(name))[indices]


def function(name: str, *args, primes: int = 0):
    """``name(args)``, or its derivative ``name'(args)`` when primed."""
    return sp.Function(name + "'" * primes)(*args)


# ---------------------------------------------------------------------------------------------
# Tokens.


@dataclass(frozen=True)
class Token:
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source`` with their positions, after the safety checks; spacing dropped."""
    if len(source) > MAX_CHARS:
        raise LatexParseError(f"input of {len(source)} characters is longer than the limit of {MAX_CHARS}", source, MAX_CHARS)
    tokens, depth = [], 0
    for m in TOKEN.finditer(source):
        text, pos = m.group(), m.start()
        text = UNICODE.get(text, text)
        if text in SKIP:
            continue
        if text in REFUSED:
            raise LatexParseError(REFUSED[text], source, pos)
        if text[0].isdigit() and len(text.replace(".", "")) > MAX_DIGITS:
            raise LatexParseError(f"a number of more than {MAX_DIGITS} digits is refused", source, pos)
        if text in ("{", "(", "[") or text in (r"\{", r"\lbrace"):
            depth += 1
            if depth > MAX_DEPTH:
                raise LatexParseError(f"nesting deeper than {MAX_DEPTH} levels is refused", source, pos)
        elif text in ("}", ")", "]") or text in (r"\}", r"\rbrace"):
            depth -= 1
        if text == "^T":  # the Unicode superscript T
            tokens += [Token("^", pos), Token("T", pos)]
            continue
        if not (text.isascii() or text in HADAMARD | PRODUCT):
            raise LatexParseError(f"unexpected character {text!r}", source, pos)
        tokens.append(Token(text, pos))
    return tokens


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
    return "".join(tok.text if not tok.text[0] == "\\" or len(tok.text) == 2 else tok.text + " " for tok in tokens).strip()


# ---------------------------------------------------------------------------------------------
# The layer: tokens -> text the parser reads, with placeholders for what we read ourselves.


@dataclass
class Context:
    """What one formula's readers share: the source, the placeholders and the bound variables."""

    source: str
    table: dict = field(default_factory=dict)
    bound: set = field(default_factory=set)

    def placeholder(self, value) -> str:
        name = f"Q{len(self.table)}"
        self.table[sp.Symbol(name, commutative=False)] = value
        return rf"\variable{{{name}}}"

    def expression(self, tokens: list[Token], where: int):
        """A sub-expression (function argument, norm, derivative part) parsed on its own."""
        if not tokens:
            raise LatexParseError("an expression is missing here", self.source, where)
        return Reader(self, tokens).parse()


TRANSPOSE_MARK = sp.Symbol("QT", commutative=False)


class Reader:
    """Reads one token list left to right and writes the text the ANTLR parser sees."""

    def __init__(self, ctx: Context, tokens: list[Token]):
        self.ctx, self.toks, self.i, self.out = ctx, tokens, 0, []

    # -- helpers ------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j].text if j < len(self.toks) else None

    def pos(self) -> int:
        return self.toks[self.i].pos if self.i < len(self.toks) else (self.toks[-1].pos + 1 if self.toks else 0)

    def error(self, message: str, pos: int | None = None):
        raise LatexParseError(message, self.ctx.source, self.pos() if pos is None else pos)

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
            self.toks = self.toks[:self.i] + [Token(tok.text[0], tok.pos), Token(tok.text[1:], tok.pos + 1)] + self.toks[self.i + 1:]
        self.i += 1
        return [self.toks[self.i - 1]]

    def bracketed(self) -> list[Token]:
        """The tokens inside the ``(...)`` or ``[...]`` at the cursor."""
        end = closing(self.toks, self.i, self.ctx.source)
        inner = self.toks[self.i + 1:end]
        self.i = end + 1
        return inner

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

    # -- one item -----------------------------------------------------------------------------
    def item(self):
        tok = self.toks[self.i]
        text = tok.text
        if text in HADAMARD:
            self.i += 1
            self.emit("*")
        elif text in PRODUCT:
            self.i += 1
            self.emit(r"\cdot")
        elif text in ("+", "-", "/"):
            self.i += 1
            self.emit(text)
        elif text[0].isdigit():
            self.i += 1
            self.emit(text)
        elif text in ("(", "{"):
            inner = self.bracketed() if text == "(" else self.group()
            self.emit("(" + Reader(self.ctx, inner).text() + ")")
            self.postfix_of_group()
        elif text == "[":
            inner = self.bracketed()
            parts = split_top(inner, {",", ";"}, self.ctx.source)
            if len(parts) > 1:
                self.emit(self.ctx.placeholder(concat(*(self.ctx.expression(p, tok.pos) for p in parts))))
            else:
                self.emit("(" + Reader(self.ctx, inner).text() + ")")
            self.postfix_of_group()
        elif text in (r"\|", r"\Vert", r"\lVert", "|", r"\lvert"):
            self.norm()
        elif text in (r"\frac", r"\dfrac", r"\tfrac"):
            self.fraction()
        elif text == r"\sqrt":
            self.i += 1
            if self.peek() == "[":
                self.error("only square roots are supported")
            self.emit(r"\sqrt{" + Reader(self.ctx, self.group()).text() + "}")
        elif text in (r"\sum", r"\prod"):
            self.big_operator()
        elif text in (r"\partial", r"\nabla"):
            self.operator_derivative()
        elif text == "^":
            self.i += 1
            self.superscript_of_group(tok.pos)
        elif text in (")", "]", "}"):
            self.error(f"this {text} closes nothing")
        elif text == "_":
            self.error("a subscript needs something before it")
        elif text in (",", ";"):
            self.error(f"unexpected '{text}' (a list is only allowed inside [...] or a function's arguments)")
        elif text in EQUALS:
            self.error("only one '=' is allowed here")
        else:
            self.emit(self.operand())

    # -- atoms and calls ----------------------------------------------------------------------
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

    def function_name(self) -> str | None:
        """The name of a function at the cursor (and advance past it), or None."""
        text = self.peek()
        if text is None:
            return None
        if text[0] == "\\" and text[1:] in FUNCTION_COMMANDS:
            self.i += 1
            return FUNCTION_COMMANDS[text[1:]]
        if text in (r"\operatorname", r"\mathrm", r"\text", r"\textrm", r"\mathit") and self.peek(1) == "{":
            end = closing(self.toks, self.i + 1, self.ctx.source)
            word = "".join(t.text for t in self.toks[self.i + 2:end])
            if len(word) > 1 and word.isalpha():
                self.i = end + 1
                return word.lower() if word.lower() in FUNCTION_WORDS else word
            return None
        if text.isalpha() and len(text) == 1:
            for word in FUNCTION_WORDS:
                letters = [self.peek(k) for k in range(len(word))]
                if "".join(c or "" for c in letters) == word and self.peek(len(word)) in ("(", "^", "'"):
                    self.i += len(word)
                    return word.lower()
        return None

    def call(self, name: str, start: int, primes: int = 0) -> str:
        """``name(args)`` with its primes, power, subscript and transpose."""
        power, label = "", None
        while self.peek() in ("'", "^", "_"):
            if self.peek() == "'":
                self.i += 1
                primes += 1
            elif self.peek() == "_" and not power:
                self.i += 1
                label = text_of(self.group())
            elif self.peek() == "^":
                at = self.pos()
                self.i += 1
                sup = self.group()
                if text_of(sup) in (r"\prime", "'"):
                    primes += 1
                elif text_of(sup) == "-1":
                    self.error(f"inverse functions are not supported ({name}^{{-1}})", at)
                else:
                    power = "^{" + Reader(self.ctx, sup).text() + "}"
            else:
                break
        if label:
            name = f"{name}_{label}"
        if self.peek() == "(":
            at = self.pos()
            args = [self.ctx.expression(part, at) for part in split_top(self.bracketed(), {","}, self.ctx.source)]
        elif self.peek() == "[":
            at = self.pos()
            args = [self.ctx.expression(self.bracketed(), at)]
        elif self.peek() == "{":
            at = self.pos()
            args = [self.ctx.expression(self.group(), at)]
        elif self.i < len(self.toks) and self.peek() not in ("+", "-", ")", "=", ",") and self.peek() not in HADAMARD | PRODUCT:
            args = [self.single_argument()]
        else:
            self.error(f"the function {name} needs an argument", start)
        value = self.apply(name, args, primes, start)
        value = self.call_postfix(value)
        return self.ctx.placeholder(value) + power

    def single_argument(self):
        """The argument of ``\\tanh z_t`` (no parentheses): the next atom."""
        start = self.i
        sub = Reader(self.ctx, self.toks)
        sub.i = start
        sub.emit(sub.operand())
        self.i = sub.i
        return run_parser(sub.out[0][0], self.ctx, self.toks[start:self.i], [(0, self.toks[start].pos)])

    def apply(self, name: str, args: list, primes: int, start: int):
        if name in ("max", "min") and len(args) == 2 and not primes:
            zero = [a for a in args if a == 0]
            others = [a for a in args if a != 0]
            if name == "max" and len(zero) == 1:
                return function("relu", others[0])
            self.error(f"\\{name} is only supported as max(0, z) (relu)", start)
        if name in ("max", "min"):
            self.error(f"\\{name} is only supported as max(0, z) (relu)", start)
        return function(name, *args, primes=primes)

    def call_postfix(self, value):
        """``f(z)_i`` (an entry) and ``f(z)^T``."""
        while self.peek() in ("_", "^"):
            if self.peek() == "_":
                self.i += 1
                value = entry(value, *index_expressions(self.group(), self.ctx))
            elif self.peek(1) is not None and self.is_transpose_next():
                self.i += 1
                self.group()
                value = transpose(value)
            else:
                break
        return value

    def is_transpose_next(self) -> bool:
        """Is the superscript after the ``^`` at the cursor a transpose?"""
        save = self.i
        self.i += 1
        sup = text_of(self.group())
        self.i = save
        return sup in TRANSPOSES

    def atom(self) -> "Atom":
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

    def next_text(self) -> str:
        self.i += 1
        return self.toks[self.i - 1].text

    def base(self, atom: "Atom"):
        text = self.peek()
        if text is None:
            self.error("a symbol is missing here")
        command = text[1:] if text[0] == "\\" else None
        if command in FONTS_BOLD or command in FONTS_PLAIN or command in ACCENTS:
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
            sub = Reader(self.ctx, inner)
            inner_atom = sub.atom()
            if sub.i != len(inner):
                self.error(f"\\{command}{{...}} must hold one symbol", self.toks[self.i - 1].pos)
            atom.merge(inner_atom)
            return
        if command in GREEK:
            self.i += 1
            atom.letters = command
            return
        if command == "partial":
            self.error("a derivative must be written \\frac{\\partial A}{\\partial B}, \\partial_{B} A or \\nabla_{B} A")
        if command is not None:
            self.error(f"unknown command {text}")
        if text.isalpha():
            self.i += 1
            atom.letters = text
            return
        self.error(f"unexpected {text!r}")

    # -- groups, norms, fractions, sums, derivatives ------------------------------------------
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
            self.emit("^{" + Reader(self.ctx, sup).text() + "}")

    def norm(self):
        start = self.pos()
        opening = self.next_text()
        closers = {r"\|": {r"\|"}, r"\Vert": {r"\Vert"}, r"\lVert": {r"\rVert"}, "|": {"|"}, r"\lvert": {r"\rvert"}}[opening]
        depth = 0
        for k in range(self.i, len(self.toks)):
            t = self.toks[k].text
            depth += t in ("{", "(", "[")
            depth -= t in ("}", ")", "]")
            if depth == 0 and t in closers:
                break
        else:
            self.error("this norm is never closed", start)
        inner = self.toks[self.i:k]
        self.i = k + 1
        if opening in ("|", r"\lvert"):
            self.error("absolute values |x| are not supported; a norm is written \\|x\\|", start)
        value = norm(self.ctx.expression(inner, start))
        if self.peek() == "_":
            self.i += 1
            if text_of(self.group()) not in ("2", "F"):
                self.error("only the 2-norm (or Frobenius norm) is supported", start)
        self.emit(self.ctx.placeholder(value))
        self.postfix_of_group()

    def fraction(self):
        start = self.pos()
        self.i += 1
        num, den = self.group(), self.group()
        d_num, d_den = differential(num), differential(den)
        if d_num is not None and d_den is not None:
            wrt = self.ctx.expression(d_den, start)
            of = self.ctx.expression(d_num, start) if d_num else self.derivative_operand(start)
            self.emit(self.ctx.placeholder(partial(of, wrt)))
            return
        self.emit(r"\frac{" + Reader(self.ctx, num).text() + "}{" + Reader(self.ctx, den).text() + "}")

    def derivative_operand(self, start: int):
        """What ``\\frac{\\partial}{\\partial x}`` or ``\\partial_x`` applies to: the next group or atom."""
        if self.peek() in ("(", "["):
            return self.ctx.expression(self.bracketed(), start)
        if self.peek() == "{":
            return self.ctx.expression(self.group(), start)
        if self.i >= len(self.toks):
            self.error("the derivative applies to nothing", start)
        return self.single_argument()

    def operator_derivative(self):
        start = self.pos()
        self.i += 1
        if self.peek() != "_":
            self.error("write a derivative as \\frac{\\partial A}{\\partial B}, \\partial_{B} A or \\nabla_{B} A", start)
        self.i += 1
        wrt = self.ctx.expression(self.group(), start)
        self.emit(self.ctx.placeholder(partial(self.derivative_operand(start), wrt)))

    def big_operator(self):
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
        if len(var_part) != 1 or not (var_part[0].text.isalpha() or var_part[0].text[1:] in GREEK):
            self.error(f"the index of {op} must be one letter (as in {op}_{{t=1}}^{{T}})", start)
        var = var_part[0].text.lstrip("\\")
        self.ctx.bound.add(var)
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
        return name

    def merge(self, inner: "Atom"):
        self.letters = inner.letters
        self.special = inner.special
        self.accents += inner.accents
        self.labels += inner.labels
        self.indices += inner.indices
        self.layer = self.layer or inner.layer
        self.primes += inner.primes
        self.transposed ^= inner.transposed
        self.bold = self.bold or inner.bold
        self.power = self.power or inner.power

    def subscript(self, tokens: list[Token], reader: Reader):
        if not tokens:
            reader.error("an empty subscript")
        indices = subscript_indices(tokens, self.ctx)
        if indices is None:
            self.labels.append(text_of(tokens).replace("\\", "").replace(" ", ""))
        else:
            self.indices += indices

    def superscript(self, tokens: list[Token], reader: Reader):
        text = text_of(tokens)
        if text in TRANSPOSES:
            self.transposed = not self.transposed
        elif text in (r"\prime", "'", r"\prime\prime"):
            self.primes += text.count("prime") or 1
        elif len(tokens) >= 3 and tokens[0].text == "(" and tokens[-1].text == ")":
            self.layer = text_of(tokens[1:-1])
        elif text in ("*", r"\ast", r"\star"):
            self.labels.append("*")
        elif text == "-1":
            reader.error("matrix inverses are not supported")
        else:
            self.power = "^{" + Reader(self.ctx, tokens).text() + "}"

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
    for tok in tokens + [Token("+", tokens[-1].pos + 1)]:
        text = tok.text
        if text in ("+", "-"):
            if term is None and not expect_term:
                raise LatexParseError("an index term is missing", ctx.source, tok.pos)
            if term is not None:
                total += sign * term
            sign, term, expect_term = (1 if text == "+" else -1) * (sign if term is None else 1), None, False
            continue
        if text.isdigit():
            factor = sp.Integer(int(text))
        elif text.isalpha() or text[1:] in GREEK:
            factor = index_symbol(text.lstrip("\\"))
        elif text in ("{", "}"):
            continue
        else:
            raise LatexParseError(f"{text!r} cannot appear in an index (only letters, numbers, + and -)", ctx.source, tok.pos)
        term = factor if term is None else term * factor
    return total


# ---------------------------------------------------------------------------------------------
# The parser, SLL first.


def _converter():
    """A latex2sympy2_extended converter whose symbols are non-commutative and whose ``*`` is ⊙."""
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig, _Latex2Sympy

    class Converter(_Latex2Sympy):
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

    return Converter(config=ConversionConfig(lowercase_symbols=False))


_CONVERTER = None


def antlr_parse(text: str):
    """Parse with SLL prediction first (about 10x faster), falling back to full LL on failure."""
    global _CONVERTER
    from antlr4.error.ErrorStrategy import BailErrorStrategy
    from antlr4.atn.PredictionMode import PredictionMode

    if _CONVERTER is None:
        _CONVERTER = _converter()
    parser = _CONVERTER.create_parser(text)
    parser._interp.predictionMode = PredictionMode.SLL
    parser._errHandler = BailErrorStrategy()
    try:
        return _CONVERTER.convert_math(parser.math())
    except Exception:  # SLL could not decide: the full-context parse reports real errors
        parser = _CONVERTER.create_parser(text)
        return _CONVERTER.convert_math(parser.math())


def run_parser(text: str, ctx: Context, tokens: list[Token], origins: list):
    """Parse the layer's output ``text`` and put back what the placeholders stand for."""
    start = tokens[0].pos if tokens else 0
    try:
        expr = antlr_parse(text)
    except LatexParseError:
        raise
    except RecursionError:
        raise LatexParseError("the formula is nested too deeply", ctx.source, start) from None
    except Exception as e:
        reason, column = antlr_reason(e)
        position = max((pos for offset, pos in origins if offset <= column), default=start) if column is not None else start
        if column is not None and column >= len(text):
            position = tokens[-1].pos + len(tokens[-1].text) if tokens else start
        raise LatexParseError(f"cannot read this: {reason}", ctx.source, position) from None
    return resolve(expr, ctx)


def antlr_reason(e: Exception) -> tuple[str, int | None]:
    """The first line of the parser's message and the column its caret line points at."""
    lines = str(e).splitlines() or [type(e).__name__]
    column = len(lines[-1]) - 1 if len(lines) >= 3 and lines[-1].endswith("^") else None
    return lines[0].replace("I expected something else here", "unexpected input"), column


def resolve(expr, ctx: Context):
    """Placeholders -> their values; ``x^{QT}`` -> ``transpose(x)``."""
    if isinstance(expr, (tuple, list)) or not isinstance(expr, sp.Basic):
        raise LatexParseError("expected one expression", ctx.source, 0)
    expr = expr.replace(lambda e: e.is_Pow and e.exp == TRANSPOSE_MARK, lambda e: transpose(e.base))
    if expr.has(TRANSPOSE_MARK):
        raise LatexParseError("a transpose mark is misplaced", ctx.source, 0)
    return expr.xreplace(ctx.table)


# ---------------------------------------------------------------------------------------------
# Entry points.


def parse_sides(source: str) -> list:
    """Every side of ``a = b [= c ...]`` as a SymPy expression (one side if there is no ``=``)."""
    if not isinstance(source, str):
        raise LatexParseError(f"expected a LaTeX string, got {type(source).__name__}")
    tokens = tokenize(source)
    if not tokens:
        raise LatexParseError("the formula is empty", source, 0)
    ctx = Context(source)
    sides = split_top(tokens, EQUALS, source)
    out = []
    for side in sides:
        if not side:
            raise LatexParseError("one side of '=' is empty", source, tokens[0].pos)
        out.append(Reader(ctx, side).parse())
    return out


def parse_latex(source: str):
    r"""The normalised parse of one formula: ``Eq(lhs, rhs)`` for an equation, else the expression.

        >>> parse_latex(r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)")
        Eq(h[t], tanh(W_hh*h[t - 1] + W_xh*x[t] + b))
    """
    sides = parse_sides(source)
    if len(sides) > 2:
        raise LatexParseError("write one equation at a time (found more than one '=')", source, 0)
    return sides[0] if len(sides) == 1 else sp.Eq(sides[0], sides[1], evaluate=False)
