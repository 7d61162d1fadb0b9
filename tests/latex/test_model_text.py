r"""Model files (``--model-file``): equations one per line, or a LaTeX block, and random model text.

Hypothesis builds random models from the grammar of the model language and random text; reading them
may only raise the library's own errors (a SymderiveError), each case within a bounded time."""
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symderive.errors import SymderiveError
from symderive.latex.model import build_model, read_model_text

ALIGN = r"""% the student's RNN, as the notes write it
\begin{align}
H_t &= \sigma(X_t W_{xh}
        + H_{t-1} W_{hh} + b_h) \label{eq:hidden} \\
O_t &= H_t W_{hq} + b_q \nonumber \\

\hat Y_t &= \operatorname{softmax}(O_t), \\  % 50\% of the notes end lines with commas
L &= -\sum_{t=1}^{T} Y_t \log \hat Y_t^\top .
\end{align}
"""
EXPECTED = [r"H_t = \sigma(X_t W_{xh} + H_{t-1} W_{hh} + b_h)", r"O_t = H_t W_{hq} + b_q",
            r"\hat Y_t = \operatorname{softmax}(O_t)", r"L = -\sum_{t=1}^{T} Y_t \log \hat Y_t^\top"]


def normal(text: str) -> str:
    return " ".join(text.split())


def test_an_align_block_is_split_into_its_equations():
    assert [normal(e) for e in read_model_text(ALIGN)] == EXPECTED


@pytest.mark.parametrize("environment", ["align*", "aligned", "equation"])
def test_other_environments(environment):
    text = "\\begin{%s} a &= \\sigma(w x + b) \\\\ L &= \\frac{1}{2}(a - y)^2 \\end{%s}" % (environment, environment)
    assert [normal(e) for e in read_model_text(text)] == [r"a = \sigma(w x + b)", r"L = \frac{1}{2}(a - y)^2"]


def test_one_equation_a_line_with_blank_lines_and_comments():
    text = "a = \\sigma(w x + b)  % the neuron\n\n% the loss:\nL = \\frac{1}{2}(a - y)^2\n"
    assert read_model_text(text) == [r"a = \sigma(w x + b)", r"L = \frac{1}{2}(a - y)^2"]


def test_a_model_file_reads_as_its_equations():
    from_file, from_options = build_model(read_model_text(ALIGN)), build_model(EXPECTED)
    assert from_file.program == from_options.program


# ---------------------------------------------------------------------------------------------
# Fuzz: random models from the grammar and random text accept only our errors.

ATOMS = ["w", "x", "b", "y", "W", "h_{t-1}", "x_t", "h_t", r"W_{hh}", r"\hat y", "W^{(2)}", r"\mathbf{W}_X", "0", "1",
         "2", r"\frac{1}{2}", "h_0", "e", "T", "z_k", r"\alpha"]
UNARY = [r"\sigma(§)", r"\tanh(§)", r"\max(0, §)", r"\exp(§)", "e^{§}", r"\log(§)", r"\sqrt{§}", "(§)^2", "(§)^{-1}",
         r"\operatorname{softmax}(§)", r"\log \operatorname{softmax}(§)", r"\|§\|^2", r"(§)^\top", "-(§)",
         r"\sum_{t=1}^{T} §", r"\frac{1}{T}\sum_{t=1}^{T} §", r"\sum_k §", r"\operatorname{softplus}(§)"]
BINARY = ["§ + ¶", "§ - ¶", "§ ¶", r"§ \odot ¶", r"\frac{§}{¶}", r"\operatorname{CE}(§, ¶)", "[§, ¶]"]
LEFT = ["a", "z", "h_t", "o_t", "h_0", r"\ell_t", "L", "W", r"\hat Y_t"]


def expressions(depth: int = 3):
    if depth == 0:
        return st.sampled_from(ATOMS)
    inner = expressions(depth - 1)
    return st.one_of(st.sampled_from(ATOMS),
                     st.builds(lambda f, a: f.replace("§", a), st.sampled_from(UNARY), inner),
                     st.builds(lambda f, a, b: f.replace("§", a).replace("¶", b), st.sampled_from(BINARY),
                               inner, inner))


MODELS = st.lists(st.builds(lambda lhs, rhs: f"{lhs} = {rhs}", st.sampled_from(LEFT), expressions()),
                  min_size=1, max_size=4)
SHAPES = st.lists(st.builds(lambda n, s: f"{n}: {s}", st.sampled_from(["w", "x", "W", "b", "h", "q"]),
                            st.sampled_from(["1", "d", "n x d", "1 x d", "0", "65", "n x"])), max_size=2)
#: a reading is bounded: no case of the grammar may take longer than this
CASE_SECONDS = 20.0


def read_within_bounds(model, shapes) -> None:
    started = time.monotonic()
    try:
        build_model(model, shapes)
    except SymderiveError:
        pass
    assert time.monotonic() - started < CASE_SECONDS, model


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(model=MODELS, shapes=SHAPES)
def test_random_models_of_the_grammar_are_read_or_refused_with_our_errors(model, shapes):
    read_within_bounds(model, shapes)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.lists(st.sampled_from(list("=+-_^{}()[]\\|&%,;.' \nawxyhtLT0123") +
                                     [r"\sigma", r"\frac", r"\sum", r"\begin{align}", r"\end{align}", r"\\",
                                      r"\hat", r"\label{", r"\nonumber"]), max_size=40).map("".join))
def test_random_text_of_a_model_file_is_read_or_refused_with_our_errors(text):
    try:
        equations = read_model_text(text)
    except SymderiveError:
        return
    read_within_bounds(equations, [])
