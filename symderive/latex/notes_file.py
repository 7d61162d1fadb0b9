r"""Reading a notes file: the mathematics of a Markdown post or a LaTeX document, with its lines.

A Markdown post (Jekyll front matter, ``$$...$$`` blocks, prose in any language around them) or a ``.tex``
document is read into the formulas it shows, in order, each with the 1-based line of the file it starts on:

* display math: ``$$...$$``, ``\[...\]`` and the environments ``equation``, ``align``, ``gather``,
  ``multline``, ``eqnarray`` (starred or not; ``aligned``/``split``/``gathered`` inside them are read by
  :func:`equations_of`); inline ``$...$`` and ``\(...\)`` are kept apart (:attr:`Formula.display` False),
  read only for the definitions a claim needs;
* annotations in comments, ``<!-- symderive: model rnn -->`` in Markdown and ``% symderive: model rnn``
  in LaTeX (``skip``, ``other``, ``shape W_H: n x n``, ``range i: 1..m``, ``model NAME``), as :class:`Annotation`
  with their line.

What is not mathematics is masked before the math is looked for, keeping every line break so that positions
keep their lines: front matter, fenced and inline code (Markdown), ``%`` comments and the preamble (LaTeX).
Windows line endings (``\r\n``) and a byte-order mark are read as plain line breaks.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from symderive.errors import LatexParseError, SymderiveError
from symderive.latex.indexed import read_index_shape, read_range
from symderive.latex.shapes import split_declaration

FORMATS = ("md", "tex")
#: display environments (each also starred)
DISPLAY_ENVIRONMENTS = ("equation", "align", "gather", "multline", "eqnarray", "flalign", "alignat", "displaymath")
#: the words an annotation may start with
ANNOTATIONS = ("model", "skip", "other", "shape", "range")

_ENVS = "|".join(re.escape(e) for e in DISPLAY_ENVIRONMENTS)
MATH = re.compile(
    r"\$\$(?P<dollars>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    rf"|\\begin\{{(?P<env>(?:{_ENVS})\*?)\}}(?:\{{\d+\}})?(?P<body>.+?)\\end\{{(?P=env)\}}"
    r"|(?<![\\$])\$(?P<inline>[^$]+?)(?<![\\$])\$"
    r"|\\\((?P<paren>.+?)\\\)",
    re.DOTALL)
OPENER = re.compile(rf"\$\$|\\\[|\\begin\{{(?P<env>(?:{_ENVS})\*?)\}}")
FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n.*?\n\1[ \t]*(\n|\Z)", re.DOTALL)
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"(`+)[^`]*?\1")
HTML_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
TEX_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
ANNOTATION = re.compile(r"symderive\s*:\s*(.*)", re.DOTALL)


@dataclass(frozen=True)
class Formula:
    """The LaTeX ``text`` between a formula's delimiters, starting on ``line`` of the file; ``display`` False
    for inline math."""

    line: int
    text: str
    display: bool = True


@dataclass(frozen=True)
class Annotation:
    """``<!-- symderive: KIND VALUE -->`` on ``line``: ``model NAME``, ``skip``, ``other``, ``shape NAME: n x d``,
    ``range i: 1..m``."""

    line: int
    kind: str
    value: str = ""


@dataclass(frozen=True)
class NotesText:
    """A notes file read: its formulas and annotations, each in the order of the file."""

    formulas: tuple
    annotations: tuple
    unclosed: tuple = ()  # (line, what) of each display block opened and never closed

    def in_order(self) -> list:
        """Formulas and annotations interleaved as the file has them (an annotation before a formula on its line)."""
        items = [(a.line, 0, a) for a in self.annotations] + [(f.line, 1, f) for f in self.formulas]
        return [item for _, _, item in sorted(items, key=lambda x: (x[0], x[1]))]


def format_of(path: str) -> str:
    """``"tex"`` for ``.tex``/``.latex``/``.ltx`` files, ``"md"`` for every other (Markdown, ``.txt``, ...)."""
    return "tex" if path.lower().endswith((".tex", ".latex", ".ltx")) else "md"


def normal_text(text: str) -> str:
    """``text`` with ``\\r\\n`` and ``\\r`` as ``\\n`` and without a leading byte-order mark."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read_notes(text: str, fmt: str) -> NotesText:
    """The formulas and annotations of a notes file's ``text`` in the format ``fmt`` (``"md"`` or ``"tex"``)."""
    if fmt not in FORMATS:
        raise LatexParseError(f"a notes file is Markdown (md) or LaTeX (tex), not {fmt!r}")
    text = normal_text(text)
    masked, annotations = (masked_markdown if fmt == "md" else masked_tex)(text)
    starts = line_starts(text)
    formulas = []
    for match in MATH.finditer(masked):
        kind = match.lastgroup
        inner = match.group(kind if kind != "env" else "body")
        if kind == "inline" and "\n\n" in inner:
            continue
        group = kind if kind != "env" else "body"
        formulas.append(Formula(line_of(starts, match.start(group)), inner, kind not in ("inline", "paren")))
    return NotesText(tuple(formulas), tuple(annotations), unclosed_blocks(masked, starts))


def unclosed_blocks(masked: str, starts: list[int]) -> tuple:
    r"""``(line, message)`` of every display opener (``$$``, ``\[``, ``\begin{align}``) left once every closed
    formula is blanked: a block never closed, which would otherwise be dropped without a word."""
    rest = blanked(MATH, masked)
    return tuple((line_of(starts, m.start()), f"this {m.group(0)} is never closed (no {closer(m)} after it); the "
                  "formula is not read") for m in OPENER.finditer(rest))


def closer(match: re.Match) -> str:
    opened = match.group(0)
    return "$$" if opened == "$$" else r"\]" if opened == r"\[" else rf"\end{{{match.group('env')}}}"


def masked_markdown(text: str) -> tuple[str, list]:
    """The Markdown ``text`` with front matter, code and HTML comments blanked; the annotations of the comments."""
    text = blanked(FRONT_MATTER, text)
    text = blanked(FENCE, text)
    text = blanked(CODE_SPAN, text)
    annotations = annotations_of(text, HTML_COMMENT)
    return blanked(HTML_COMMENT, text), annotations


def masked_tex(text: str) -> tuple[str, list]:
    """The LaTeX ``text`` with comments and the preamble blanked; the annotations of the ``%`` comments."""
    annotations = annotations_of(text, TEX_COMMENT, strip="%")
    text = blanked(TEX_COMMENT, text)
    begin = text.find(r"\begin{document}")
    if begin >= 0:
        text = blank_span(text, 0, begin + len(r"\begin{document}"))
    return text, annotations


def annotations_of(text: str, comment: re.Pattern, strip: str = "") -> list:
    """Every ``symderive: ...`` annotation in the comments ``comment`` matches, each with its line."""
    starts = line_starts(text)
    found = []
    for match in comment.finditer(text):
        words = ANNOTATION.search(match.group(0).lstrip(strip))
        if words:
            found.append(annotation(words.group(1).strip().rstrip("->").strip(), line_of(starts, match.start())))
    return found


def annotation(words: str, line: int) -> Annotation:
    """An annotation from its words (``model rnn``); an unknown word is bad input naming the line."""
    kind, _, value = words.partition(" ")
    if kind not in ANNOTATIONS:
        raise LatexParseError(f"line {line}: unknown annotation 'symderive: {words}' (known: model NAME, skip, "
                              "other, shape NAME: ROWS x COLS, range i: 1..m)")
    value = value.strip()
    if kind in ("model", "shape", "range") and not value:
        raise LatexParseError(f"line {line}: 'symderive: {kind}' needs a value (model NAME, shape W: n x d, "
                              "range i: 1..m)")
    problem = annotation_problem(kind, value)
    if problem:
        raise LatexParseError(f"line {line}: 'symderive: {words}': {problem}")
    return Annotation(line, kind, value)


def annotation_problem(kind: str, value: str) -> str:
    """What is wrong with an annotation's value ("" when nothing): ``skip`` and ``other`` take none, a model's
    name is one word, a range reads as ``i: 1..m`` and a shape as ``W: n x d`` (or ``X: C x M x N``)."""
    if kind in ("skip", "other"):
        return f"'{kind}' takes nothing after it (it is about the next formula)" if value else ""
    if kind == "model":
        return "" if re.fullmatch(r"[\w.-]+", value) else "a model's name is one word (model rnn)"
    reads = (read_range,) if kind == "range" else (split_declaration, read_index_shape)
    reasons = []
    for read in reads:
        try:
            read(value)
            return ""
        except SymderiveError as e:
            reasons.append(re.sub(r"^--\w+ '[^']*': ", "", getattr(e, "reason", str(e))))
    return reasons[0]


def blank_span(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]


def line_of(starts: list[int], position: int) -> int:
    """The 1-based line of ``position``."""
    return bisect_right(starts, position)


# ---------------------------------------------------------------------------------------------
# A formula's equations: rows split at \\, chains split at =, each part with its line.

#: what carries no meaning for the equations inside a display (blanked, so positions keep their lines)
LAYOUT = re.compile(
    r"\\(?:begin|end)\s*\{(?:aligned|alignedat|split|gathered|array|cases)\*?\}(?:\{[^{}]*\})?"
    r"|\\(?:label|tag\*?|eqref|ref)\s*\{[^{}]*\}|\\(?:nonumber|notag|displaystyle|textstyle)\b")
#: a remark or punctuation ending a row (``\quad \text{(chain rule)}``, ``,``, ``.``)
ROW_END = re.compile(
    r"(?:(?:\\q?quad|\\[,;:!]|~)+\s*\(?\s*\\(?:text|textrm|mbox|textit)\s*\{[^{}]*\}\s*\)?)?\s*[,.;]?"
    r"(?=\s*(?:\\\\|\Z))")


@dataclass(frozen=True)
class Side:
    """One side of an equation or chain, as written, and the line it starts on (for a later side, the line of
    the ``=`` before it)."""

    line: int
    text: str


@dataclass(frozen=True)
class Equation:
    """``A = B`` (two sides), a chain ``A = B = C`` (more; each ``=`` a step), or text without ``=`` (one)."""

    sides: tuple

    @property
    def line(self) -> int:
        return self.sides[0].line

    @property
    def text(self) -> str:
        return " = ".join(s.text for s in self.sides)


def equations_of(formula: Formula) -> list[Equation]:
    r"""The equations of a formula: its rows (split at ``\\``), each split at its top-level ``=``; a row that
    starts with ``=`` (``&= C``) continues the equation above it as one more step."""
    text = blanked(LAYOUT, formula.text)
    text = blanked(ROW_END, text).replace("&", " ").replace(":=", " =")
    equations: list[list[Side]] = []
    for row_start, row in top_level_parts(text, r"\\"):
        if not row.strip():
            continue
        sides = []
        for index, (start, part) in enumerate(top_level_parts(row, "=")):
            position = row_start + start + (len(part) - len(part.lstrip()) if index == 0 else -1)
            sides.append(Side(formula.line + text.count("\n", 0, position), part.strip()))
        if not sides[0].text and equations:
            equations[-1].extend(sides[1:])
        else:
            equations.append(sides)
    return [Equation(tuple(sides)) for sides in equations]


def blanked(pattern: re.Pattern, text: str) -> str:
    """``text`` with every match of ``pattern`` replaced by spaces, its line breaks kept."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def top_level_parts(text: str, separator: str) -> list[tuple[int, str]]:
    """``text`` split at ``separator`` outside braces and inner environments: (where each part starts, the part)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith(r"\begin", i) or text[i] == "{":
            depth += 1
        elif text.startswith(r"\end", i) or text[i] == "}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append((start, text[start:i]))
            start = i = i + len(separator)
            continue
        i += 2 if text[i] == "\\" and not text.startswith(separator, i + 1) else 1
    parts.append((start, text[start:]))
    return parts


def readable(text: str) -> str:
    r"""A side's LaTeX as the reader takes it: labels in roman type (``w_\textrm{h}``) as plain labels (``w_{h}``)."""
    return re.sub(r"_\s*\{\s*\\(?:textrm|mathrm|text|rm)\s*\{([A-Za-z0-9]+)\}\s*\}|_\s*\\(?:textrm|mathrm|text|rm)"
                  r"\s*\{([A-Za-z0-9]+)\}", lambda m: "_{" + (m.group(1) or m.group(2)) + "}", text)
