r"""Reading a notes file: display math with its lines, annotations, front matter, code, CRLF, LaTeX preambles.

Every expected line below was counted by hand in the text of the test."""
import pytest

from symderive.errors import LatexParseError
from symderive.latex.notes_file import Annotation, equations_of, format_of, read_notes, readable

POST = """---
title: "노트"
math: $$ not math $$
---
# 제목 $$a = b$$ 본문
본문 $\\delta_t = \\frac{\\partial L}{\\partial h_t}$ 이다.

$$
\\begin{aligned}
h_t &= \\tanh(z_t), \\\\
\\frac{\\partial L}{\\partial W} &= A \\\\
&= B \\quad \\text{(연쇄 법칙)} \\\\
&= C.
\\end{aligned}
$$
<!-- symderive: model rnn -->
```
$$ x = 1 $$
```
Inline code `$$ y = 2 $$` is not math.
\\begin{align*}
L &= \\sum_t \\ell_t \\label{eq:loss}
\\end{align*}
\\[ u = v \\]
"""


def test_display_and_inline_formulas_with_their_lines():
    notes = read_notes(POST, "md")
    shown = [(f.line, f.display, f.text.split()[0]) for f in notes.formulas]
    assert shown == [(5, True, "a"), (6, False, "\\delta_t"), (8, True, "\\begin{aligned}"), (21, True, "L"),
                     (24, True, "u")]
    assert notes.annotations == (Annotation(16, "model", "rnn"),)


def test_windows_line_endings_and_a_byte_order_mark_keep_the_lines():
    crlf = "\ufeff" + POST.replace("\n", "\r\n")
    assert read_notes(crlf, "md") == read_notes(POST, "md")


def test_a_chain_is_split_into_steps_each_on_its_line():
    display = read_notes(POST, "md").formulas[2]
    equations = equations_of(display)
    assert [[(s.line, s.text) for s in e.sides] for e in equations] == [
        [(10, "h_t"), (10, "\\tanh(z_t)")],
        [(11, "\\frac{\\partial L}{\\partial W}"), (11, "A"), (12, "B"), (13, "C")]]


def test_labels_and_punctuation_are_not_part_of_an_equation():
    loss = read_notes(POST, "md").formulas[3]
    assert [[s.text for s in e.sides] for e in equations_of(loss)] == [["L", "\\sum_t \\ell_t"]]


def test_a_remark_without_a_separator_is_kept():
    formula = read_notes("$$\\delta_t = \\text{anything}$$", "md").formulas[0]
    assert equations_of(formula)[0].sides[1].text == "\\text{anything}"


TEX = """\\documentclass{article}
% symderive: shape W: n x d
\\newcommand{\\x}{$$ not read $$}
\\begin{document}
Text with 100\\% and $a = b$.
% a comment $$ c = d $$
\\begin{equation}
  z = W x % trailing comment
\\end{equation}
% symderive: skip
\\begin{gather*} q = r \\end{gather*}
\\end{document}
"""


def test_latex_preamble_and_comments_are_not_read_but_annotations_are():
    notes = read_notes(TEX, "tex")
    assert [(f.line, f.display, f.text.strip()) for f in notes.formulas] == [
        (5, False, "a = b"), (7, True, "z = W x"), (11, True, "q = r")]
    assert notes.annotations == (Annotation(2, "shape", "W: n x d"), Annotation(10, "skip"))


def test_an_unknown_annotation_is_bad_input_naming_its_line():
    with pytest.raises(LatexParseError, match="line 2: unknown annotation"):
        read_notes("text\n<!-- symderive: modle rnn -->\n", "md")
    with pytest.raises(LatexParseError, match="needs a value"):
        read_notes("% symderive: model\n", "tex")


def test_format_from_the_file_name():
    assert [format_of(n) for n in ("a.tex", "B.LTX", "post.md", "post.markdown", "notes")] == [
        "tex", "tex", "md", "md", "md"]
    with pytest.raises(LatexParseError):
        read_notes("", "rst")


def test_roman_labels_read_as_plain_labels():
    assert readable(r"\partial_{w_\textrm{h}} L + W_{\mathrm{xh}}") == r"\partial_{w_{h}} L + W_{xh}"
