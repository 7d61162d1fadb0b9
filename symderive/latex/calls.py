r"""Function calls: ``\sigma(z)``, ``\tanh^2 c``, ``\sigma'(z)``, ``\operatorname{diag}(v)``, ``\max(0, z)``,
``\ell(o_t, y_t)``, ``softmax(z)_i``.

The name, its primes, power and label, the arguments (each parsed on its own) and what follows the
call (an entry ``_i`` or a transpose) are read here; the call reaches the parser as one placeholder.
"""
from __future__ import annotations

from symderive.latex.antlr import run_parser
from symderive.latex.atoms import index_expression, index_expressions
from symderive.latex.parsed import DOT_ARGUMENT, entry, function, index_symbol, transpose, window_max
from symderive.latex.tokens import HADAMARD, PRODUCT, TRANSPOSES, Cursor, closing, split_top, text_of
from symderive.latex.words import FUNCTION_COMMANDS, function_words

#: the fonts a function's name may be written in (``\operatorname{diag}``, ``\mathrm{softmax}``)
WORD_FONTS = (r"\operatorname", r"\mathrm", r"\text", r"\textrm", r"\mathit")


class CallReading(Cursor):
    """The reader's part that reads function calls (mixed into :class:`symderive.latex.reader.Reader`,
    whose ``operand``, ``expression`` and ``emit`` it uses)."""

    def function_name(self) -> str | None:
        """The name of a function at the cursor (and advance past it), or None."""
        text = self.peek()
        if text is None:
            return None
        if text[0] == "\\" and text[1:] in FUNCTION_COMMANDS:
            self.i += 1
            return FUNCTION_COMMANDS[text[1:]]
        if text in WORD_FONTS and self.peek(1) == "{":
            return self.font_word()
        if text.isalpha() and len(text) == 1:
            return self.spelled_word()
        return None

    def font_word(self) -> str | None:
        r"""``\operatorname{word}``: a word of two or more letters is a function's name."""
        end = closing(self.toks, self.i + 1, self.ctx.source)
        word = "".join(t.text for t in self.toks[self.i + 2:end])
        if len(word) > 1 and word.isalpha():
            self.i = end + 1
            return word.lower() if word.lower() in function_words() else word
        return None

    def spelled_word(self) -> str | None:
        """``softmax(``: one of the function words spelled in plain letters, followed by a call."""
        for word in function_words():
            letters = [self.peek(k) for k in range(len(word))]
            if "".join(c or "" for c in letters) == word and self.peek(len(word)) in ("(", "^", "'"):
                self.i += len(word)
                return word.lower()
        return None

    def call(self, name: str, start: int, primes: int = 0) -> str:
        """``name(args)`` with its primes, power, subscript and transpose."""
        name, primes, power = self.call_decorations(name, primes)
        args = self.call_arguments(name, start)
        value = self.apply(name, args, primes, start)
        value = self.call_postfix(value)
        return self.ctx.placeholder(value) + power

    def call_decorations(self, name: str, primes: int) -> tuple[str, int, str]:
        r"""What is written between a function's name and its argument: primes (``\sigma'``), a power
        (``\tanh^2``) and a label (``\sigma_g``, part of the name)."""
        if self.ctx.index_level and name == "max" and self.peek() == "_" and not primes:
            return self.window_decorations(name)
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
                    power = "^{" + self.nested(sup).text() + "}"
            else:
                break
        if label:
            name = f"{name}_{label}"
        return name, primes, power

    def window_decorations(self, name: str) -> tuple[str, int, str]:
        r"""``\max_{p,q}`` or ``\max_{p=1}^{K}``: the window's letters, their bounds (when written, read as a
        sum's and kept in the context) -> the name ``max_p,q``."""
        start = self.pos()
        self.i += 1
        lower, upper = self.group(), None
        if self.peek() == "^":
            self.i += 1
            upper = self.group()
        var_part, *lo_part = split_top(lower, {"="}, self.ctx.source)
        letters = [text_of(v) for v in split_top(var_part, {","}, self.ctx.source)]
        if bool(lo_part) != (upper is not None):
            self.error("a window's bounds are written as a sum's, both or neither (\\max_{p=1}^{K} or \\max_{p})",
                       start)
        if lo_part:
            lo, hi = index_expression(lo_part[0], self.ctx), index_expression(upper, self.ctx)
            self.ctx.windows.update({v: (lo, hi) for v in letters})
        return f"{name}_{','.join(letters)}", 0, ""

    def call_arguments(self, name: str, start: int) -> list:
        """The arguments: ``(a, b)``, ``[a]``, ``{a}``, or the next atom (``\\tanh z_t``)."""
        if self.ctx.index_level and [self.peek(k) for k in range(3)] == ["(", r"\cdot", ")"]:
            self.i += 3
            return [DOT_ARGUMENT]  # \sigma'(\cdot): the argument as the model writes it
        if self.peek() == "(":
            at = self.pos()
            return [self.expression(part, at) for part in split_top(self.bracketed(), {","}, self.ctx.source)]
        if self.peek() == "[":
            at = self.pos()
            return [self.expression(self.bracketed(), at)]
        if self.peek() == "{":
            at = self.pos()
            return [self.expression(self.group(), at)]
        if (self.i < len(self.toks) and self.peek() not in ("+", "-", ")", "=", ",")
                and self.peek() not in HADAMARD | PRODUCT):
            return [self.single_argument()]
        self.error(f"the function {name} needs an argument", start)

    def single_argument(self):
        """The argument of ``\\tanh z_t`` (no parentheses): the next atom."""
        start = self.i
        sub = self.nested(self.toks)
        sub.i = start
        sub.emit(sub.operand())
        self.i = sub.i
        return run_parser(sub.out[0][0], self.ctx, self.toks[start:self.i], [(0, self.toks[start].pos)])

    def apply(self, name: str, args: list, primes: int, start: int):
        """The call's value; ``\\max(0, z)`` is ``relu(z)``, every other max or min is refused."""
        if self.ctx.index_level and name.startswith("max_") and len(args) == 1 and not primes:
            window = [index_symbol(v) for v in name[4:].split(",")]
            if all(v.name.isalpha() and len(v.name) == 1 for v in window):
                self.ctx.bound.update(v.name for v in window)
                return window_max(args[0], *window)
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
