"""A derivation as a document: sections of equations, each with the rule that justifies it.

Three renderings of the same document: a LaTeX fragment (``align*`` with ``\\intertext``), Markdown
with ``$$`` blocks and Jekyll front matter (``use_math: true``, as MathJax blogs use), and a
standalone ``.tex`` file (amsmath) that compiles with pdflatex.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

FORMATS = ("latex", "markdown", "tex")
MAX_LINE = 100  # characters of LaTeX per line of a long right-hand side


@dataclass(frozen=True)
class Step:
    """``lhs = rhs`` (both LaTeX), with ``why``: a sentence (inline math in ``$...$``) or ''."""

    lhs: str
    rhs: str
    why: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Document:
    title: str
    summary: str
    sections: tuple[Section, ...]
    tags: tuple[str, ...] = field(default=())

    def render(self, fmt: str, lang: str = "en") -> str:
        """The document as ``fmt``; ``lang`` is the language of its prose (front matter, kotex)."""
        if fmt == "latex":
            return self.latex()
        return {"markdown": self.markdown, "tex": self.tex}[fmt](lang)

    def latex(self) -> str:
        """A fragment to paste into a document that loads amsmath."""
        return "\n".join(latex_section(s) for s in self.sections)

    def markdown(self, lang: str = "en", footer: tuple[str, ...] = ()) -> str:
        """A Jekyll page: front matter (``lang`` when not English), the summary, the sections, and
        ``footer`` lines (a notes page's figure and navigation)."""
        body = [markdown_prose(self.summary), ""] + [markdown_section(s) for s in self.sections] + list(footer)
        return "\n".join(front_matter(self.title, self.tags, lang) + body).rstrip() + "\n"

    def tex(self, lang: str = "en") -> str:
        head = preamble(lang) + [rf"\title{{{tex_text(self.title)}}}", r"\date{}", r"\begin{document}",
                                 r"\maketitle", "",
                                 self.summary, ""]
        return "\n".join(head) + "\n" + self.latex() + "\n\\end{document}\n"


def preamble(lang: str = "en", packages: tuple[str, ...] = ()) -> list[str]:
    """The head of a standalone document up to ``\\title``: the engine line LaTeX editors read
    (pdflatex in both languages), amsmath, ``packages``, page-breakable displays, and for Korean
    kotex (Debian's texlive-lang-korean) with a Korean name for the table of contents."""
    head = ["% !TEX program = pdflatex", r"\documentclass[11pt]{article}", r"\usepackage[margin=2.5cm]{geometry}",
            r"\usepackage{amsmath,amssymb}", *packages, r"\allowdisplaybreaks"]
    if lang == "ko":
        head += [r"\usepackage{kotex}", r"\renewcommand{\contentsname}{차례}"]
    return head


def front_matter(title: str, tags, lang: str = "en") -> list[str]:
    """Jekyll front matter with ``use_math: true`` (what MathJax blogs switch on)."""
    lines = ["---", "layout: post", f'title: "{title}"', f"tags: [{', '.join(tags)}]", "use_math: true"]
    if lang != "en":
        lines.append(f"lang: {lang}")
    return lines + ["---", ""]


MATH = re.compile(r"(\$[^$]*\$)")
PROSE_MARKUP = ((re.compile(r"\\texttt\{([^{}]*)\}"), r"`\1`"), (re.compile(r"\\emph\{([^{}]*)\}"), r"*\1*"),
                (re.compile(r"``([^`']*)''"), "“\\1”"))


TEX_SPECIALS = re.compile(r"(?<!\\)([_#%&])")


def tex_text(text: str) -> str:
    """A title as LaTeX text: ``_``, ``#``, ``%``, ``&`` escaped outside inline math (a model named
    ``sigmoid_rnn`` is titled \texttt{sigmoid\\_rnn}); math and commands as written."""
    parts = MATH.split(text)
    return "".join(p if k % 2 else TEX_SPECIALS.sub(r"\\\1", p) for k, p in enumerate(parts))


def markdown_prose(text: str) -> str:
    """Prose written for LaTeX, as Markdown: ``\\texttt{x}`` is `` `x` ``, ``\\emph{x}`` is ``*x*``,
    ````x''`` is “x”. In inline math (``$...$``) ``\\|`` becomes ``\\Vert``: Markdown would
    read the backslash as escaping ``|`` (kramdown does), and a ``|`` splits a table cell."""
    parts = MATH.split(text)
    for k in range(len(parts)):
        if k % 2:
            parts[k] = parts[k].replace("\\|", "\\Vert ")
        else:
            for pattern, replacement in PROSE_MARKUP:
                parts[k] = pattern.sub(replacement, parts[k])
    return "".join(parts)


def top_level_terms(tex: str) -> list[str]:
    """The terms of a LaTeX sum, split at `` + `` and `` - `` outside braces and ``\\left...\\right``
    (each term after the first keeps its sign); a sum inside an environment is not split."""
    if r"\begin{" in tex:
        return [tex]
    terms, depth, start, i = [], 0, 0, 0
    while i < len(tex):
        if tex.startswith(r"\left", i) or tex[i] == "{":
            depth += 1
        elif tex.startswith(r"\right", i) or tex[i] == "}":
            depth -= 1
        elif depth == 0 and i > start and tex.startswith((" + ", " - "), i):
            terms.append(tex[start:i])
            start = i + 1
        i += 1
    return terms + [tex[start:]]


def broken_lines(tex: str) -> list[str]:
    """A long right-hand side as lines of at most about MAX_LINE characters, broken between terms."""
    lines = []
    for term in top_level_terms(tex):
        if lines and len(lines[-1]) + len(term) + 1 <= MAX_LINE:
            lines[-1] += " " + term
        else:
            lines.append(term)
    return lines


def aligned_rows(step: Step) -> str:
    """``lhs &= first line \\\\ &\\quad next line ...``."""
    first, *rest = broken_lines(step.rhs)
    return " \\\\\n".join([f"{step.lhs} &= {first}"] + [rf"&\quad {line}" for line in rest])


def latex_section(s: Section) -> str:
    out = [rf"\subsection*{{{tex_text(s.title)}}}", ""]
    if s.text:
        out += [s.text, ""]
    if s.steps:
        out.append(r"\begin{align*}")
        rows = []
        for step in s.steps:
            prefix = rf"\intertext{{{step.why}}}" + "\n" if step.why else ""
            rows.append(f"{prefix}{aligned_rows(step)}")
        out.append(" \\\\\n".join(rows))
        out += [r"\end{align*}", ""]
    return "\n".join(out)


def markdown_section(s: Section) -> str:
    out = [f"## {s.title}", ""]
    if s.text:
        out += [markdown_prose(s.text), ""]
    for step in s.steps:
        if step.why:
            out += [markdown_prose(step.why), ""]
        if len(broken_lines(step.rhs)) > 1:
            out += ["$$", r"\begin{aligned}", aligned_rows(step), r"\end{aligned}", "$$", ""]
        else:
            out += ["$$", f"{step.lhs} = {step.rhs}", "$$", ""]
    return "\n".join(out)
