"""Random notes (prose and math interleaved, Markdown and LaTeX, any line endings): checking them gives a report
whose lines lie in the file, or one of our errors; never anything else."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symderive.errors import SymderiveError
from symderive.judge.notes_check import check_notes

PROSE = st.sampled_from(["Some words.", "은닉 상태의 기울기입니다.", "# Heading", "#### 출력층", "100% sure, $5 off",
                         "<!-- a comment -->", "<!-- symderive: skip -->", "<!-- symderive: model m -->",
                         "% symderive: other", "`code $x$`", "```\n$$a=b$$\n```", "\\", "$", "%", "}{", ""])
FORMULAS = st.sampled_from([
    r"z = w x + b", r"a = \sigma(z)", r"L = \frac{1}{2}(a - y)^2", r"\frac{\partial L}{\partial w} = (a - y) a x",
    r"\frac{\partial L}{\partial b} = (a - y) a (1 - a)", r"\delta = \frac{\partial L}{\partial z}",
    r"P(x_1, \ldots, x_T) = \prod_t P(x_t \mid x_{<t})", r"\int_0^1 x\,dx = \frac12", r"e^u \approx 1 + u",
    r"A &= B \\ &= C", r"\frac{\partial L}{\partial w} = \frac{", r"h_t = f(x_t, h_{t-1}, w)", r"= =", r"x",
    r"\sigma'(u) = \sigma(u)(1 - \sigma(u))", r"\frac{\partial L}{\partial q} = 1",
    r"\begin{bmatrix} 1 \\ 2 \end{bmatrix}",
])
DELIMITERS = st.sampled_from([("$$", "$$"), ("\\[", "\\]"), ("\\begin{align}", "\\end{align}"), ("$", "$"),
                              ("\\begin{equation*}", "\\end{equation*}"),
                              ("$$\n\\begin{aligned}", "\\end{aligned}\n$$")])
PIECE = st.one_of(PROSE, st.tuples(DELIMITERS, FORMULAS, st.sampled_from([" ", "\n"])).map(
    lambda p: p[0][0] + p[2] + p[1] + p[2] + p[0][1]), st.text(max_size=30))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(PIECE, max_size=10), front=st.booleans(), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       fmt=st.sampled_from(["md", "tex"]))
def test_random_notes_give_a_report_or_our_error(pieces, front, newline, fmt):
    text = ("---\ntitle: t\n---\n" if front else "") + "\n\n".join(pieces)
    text = text.replace("\n", newline)
    try:
        entries = check_notes(text, fmt)
    except SymderiveError:
        return
    lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    assert all(1 <= e.line <= lines for e in entries)
    assert all(e.kind in ("model", "definition", "claim", "other") for e in entries)
    assert all(e.verdict in ("holds", "does_not_hold", "not_checked", "error") for e in entries)
    assert all(set(e.to_json()) == {"line", "kind", "verdict", "latex", "diagnosis", "correct", "reason"}
               for e in entries)
