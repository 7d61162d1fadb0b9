"""Notes files a user trial found mishandled: a convolution whose output range is left unsaid, unclosed display
math, a formula that does not parse, malformed annotations, errors in the summary, a second ``--fix``."""
from __future__ import annotations

import re

import pytest
import sympy as sp

from symderive.cli import main
from symderive.errors import LatexParseError
from symderive.judge.notes_check import check_notes
from symderive.judge.notes_ranges import inferred_ranges, letter_span, notes_hint
from symderive.judge.notes_report import exit_status, summary
from symderive.latex.index_ranges import written_bounds
from symderive.latex.indexed import read_index_equation

CONV = r"""{annotation}

$$
Y_{{i,j}} = \sum_{{p=1}}^{{k}}\sum_{{q=1}}^{{k}} K_{{p,q}} X_{{i+p-1,j+q-1}} + b
$$

$$
L = \ell(Y)
$$

Define $\delta_{{i,j}} = \frac{{\partial L}}{{\partial Y_{{i,j}}}}$.

$$
\frac{{\partial L}}{{\partial K_{{p,q}}}} = \sum_{{i}} \sum_{{j}} \delta_{{i,j}} X_{{{read}}}
$$
"""


def claim_of(entries):
    return [e for e in entries if e.kind == "claim"][0]


def test_valid_convolution_range_inferred_from_the_annotated_shape():
    # dL/dK_{p,q} = sum_{i,j} dL/dY_{i,j} * dY_{i,j}/dK_{p,q} = sum_{i,j} delta_{i,j} X_{i+p-1,j+q-1} (by hand)
    text = CONV.format(annotation="<!-- symderive: shape X: M x N -->", read="i+p-1, j+q-1")
    assert claim_of(check_notes(text, "md")).verdict == "holds"
    wrong = CONV.format(annotation="<!-- symderive: shape X: M x N -->", read="i+p, j+q-1")
    entry = claim_of(check_notes(wrong, "md"))
    assert entry.verdict == "does_not_hold" and "off by one" in entry.diagnosis


def test_inferred_range_is_the_valid_convolution():
    # X_{i+p-1} with p = 1..k inside 1..M: i + k - 1 <= M, so i = 1..M-k+1 (n = M - k + 1 entries, X's size follows)
    eq = read_index_equation(r"Y_{i} = \sum_{p=1}^{k} K_{p} X_{i+p-1}")
    i, k, m = sp.symbols("i k M")
    lo, hi, name = letter_span(eq.letters[0], eq.rhs, written_bounds(eq.rhs, eq.implicit), {"X": [m]}, 1)
    assert (lo, sp.expand(sp.sympify(str(hi)) - (m - k + 1)), name) == (1, 0, "X")
    ranges, shapes = inferred_ranges([r"Y_{i} = \sum_{p=1}^{k} K_{p} X_{i+p-1}"], ["X: M"], [])
    assert ranges == ["i: 1..1 + n - 1"] and shapes == []  # a size of its own; X's follows from the reads


def test_unsaid_range_asks_for_the_annotation_not_a_flag():
    entry = claim_of(check_notes(CONV.format(annotation="", read="i+p-1, j+q-1"), "md"))
    assert entry.verdict == "error"
    assert "<!-- symderive: range i: 1..n -->" in entry.diagnosis and "--range" not in entry.diagnosis
    tex = notes_hint("declare it (--range 'i: 1..n')", "tex")
    assert tex == "declare it (the annotation % symderive: range i: 1..n)"


@pytest.mark.parametrize("formula, message", [
    (r"a &= \sigma(Wx", "this ( is never closed"),
    (r"a &= \sigmoid(W x)", "unknown command"),
])
def test_a_formula_that_does_not_parse_is_an_error_with_its_line(formula, message):
    text = "\\begin{document}\n\\begin{align}\n" + formula + " \\\\\nL &= a\n\\end{align}\n\\end{document}\n"
    entries = check_notes(text, "tex")
    wrong = [e for e in entries if e.verdict == "error"]
    assert [e.line for e in wrong] == [3] and message in wrong[0].diagnosis and "^" in wrong[0].diagnosis
    assert exit_status(entries) == 1 and summary(entries).endswith("1 cannot be checked")


def test_parsed_mathematics_that_is_no_model_stays_other():
    entries = check_notes("$$\n\\sigma'(u) = \\sigma(u)(1 - \\sigma(u))\n$$\n", "md")
    assert [(e.kind, e.verdict) for e in entries] == [("other", "not_checked")]


@pytest.mark.parametrize("text, fmt, line, opener", [
    ("$$\nh = \\tanh(W x\n", "md", 1, "$$"),
    ("\\begin{document}\nsee\n\\[ h = W x\n\\end{document}\n", "tex", 3, r"\["),
    ("\\begin{document}\n\n\\begin{align}\nh &= W x\n\\end{document}\n", "tex", 3, r"\begin{align}"),
])
def test_an_unclosed_block_alone_is_bad_input_naming_its_line(text, fmt, line, opener):
    with pytest.raises(LatexParseError, match=rf"line {line}: this {re.escape(opener)} is never closed"):
        check_notes(text, fmt)


def test_an_unclosed_block_after_a_readable_one_is_a_counted_error():
    entries = check_notes("$$\nh = W x\n$$\n\ntext\n$$\nL = h\n", "md")
    assert [(e.line, e.verdict) for e in entries] == [(2, "not_checked"), (6, "error")]
    assert exit_status(entries) == 1 and summary(entries).endswith("1 cannot be checked")


@pytest.mark.parametrize("annotation, message", [
    ("range i: 1..", "LETTER: FIRST..LAST"),
    ("skip extra", "'skip' takes nothing"),
    ("other now", "'other' takes nothing"),
    ("model rnn two", "one word"),
    ("shape W n x n", "NAME: ROWS x COLS"),
])
@pytest.mark.parametrize("fmt, form", [("md", "<!-- symderive: {} -->"), ("tex", "% symderive: {}")])
def test_a_malformed_annotation_is_refused_with_its_line(annotation, message, fmt, form):
    text = "intro\n" + form.format(annotation) + "\n\\[ h = W x \\]\n"
    with pytest.raises(LatexParseError, match=rf"line 2: 'symderive: {re.escape(annotation)}': .*{message}"):
        check_notes(text, fmt)


@pytest.mark.parametrize("annotation", ["range i: 1..m", "range o: 0..F-1", "shape X: C x M x N",
                                        "shape W_{hh}: n x n", "model rnn", "skip", "other"])
def test_a_wellformed_annotation_is_taken(annotation):
    assert check_notes(f"<!-- symderive: {annotation} -->\n\n$$\nh = W x\n$$\n", "md")


def test_a_refused_definition_is_counted_in_the_summary():
    # L = h^T h / 2 gives dL/dh = h (by hand); the definition indexed by t+1 is refused by the model
    text = ("$$\nh = \\tanh(W x)\n$$\n\n$$\nL = \\frac{1}{2} h^\\top h\n$$\n\n$$\n\\delta_{t+1} = "
            "\\frac{\\partial L}{\\partial h}\n$$\n\n$$\n\\frac{\\partial L}{\\partial h} = h\n$$\n")
    entries = check_notes(text, "md")
    assert [(e.kind, e.verdict) for e in entries][2:] == [("definition", "error"), ("claim", "holds")]
    assert summary(entries) == ("4 equations: 2 model, 0 definitions, 1 holds, 0 do not hold, 0 not checked, "
                                "1 cannot be checked")
    assert exit_status(entries) == 1


def test_a_second_fix_is_refused_before_the_report(tmp_path, capsys):
    path = tmp_path / "notes.md"
    path.write_text("$$z = W x$$\n$$L = \\frac{1}{2}\\|z\\|^2$$\n\n$$\\frac{\\partial L}{\\partial W} = z x$$\n",
                    encoding="utf-8")
    assert main(["check", str(path), "--fix"]) == 1
    capsys.readouterr()
    assert main(["check", str(path), "--fix"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "notes.fixed.md exists; pass --force" in err
    assert main(["check", str(path), "--fix", "--force"]) == 1  # --force replaces it
