r"""The documents' notation in claims, as the reader and the judge read it (issue 14)."""
import pytest
import sympy as sp

from symderive.derivations import derivation
from symderive.judge.compare import read_claim
from symderive.judge.subject import subject_of_derivation
from symderive.latex.parsed import indexed, matrix_symbol, partial, transpose
from symderive.latex.reader import parse_sides

t = sp.Symbol("t", integer=True)
L = matrix_symbol("L")


@pytest.mark.parametrize("text, expected", [
    (r"\delta^{c}_{t}", indexed("delta^c", t)),          # a letter over a Greek letter names it
    (r"\delta_t^{h}", indexed("delta^h", t)),
    (r"\delta^T", transpose(matrix_symbol("delta"))),     # T stays a transpose
    (r"\delta^{c}_{t}^\top", transpose(indexed("delta^c", t))),
    (r"x^c", matrix_symbol("x") ** matrix_symbol("c")),  # over a Latin letter: a power, as before
    (r"W^{(1)\top}", transpose(matrix_symbol("W^(1)"))),  # a layer and a transpose in one superscript
    (r"W^{(12)T}", transpose(matrix_symbol("W^(12)"))),
])
def test_the_reader_reads_the_superscripts_of_the_documents(text, expected):
    assert parse_sides(text)[0] == expected


@pytest.fixture(scope="module")
def lstm():
    return subject_of_derivation(derivation("lstm"))


@pytest.mark.parametrize("text, lhs, rhs", [
    # a label and a step in one subscript, an adjoint with a bar (bold or not), an accent under the bar
    (r"\frac{\partial L}{\partial a_{o,t}} = \bar{o}_{t}", partial(L, indexed("a_o", t)), partial(L, indexed("o", t))),
    (r"\bar{\mathbf{a}}_{o,t} = \frac{\partial L}{\partial \mathbf{a}_{o,t}} = \bar{\hat{y}}_{t}",
     partial(L, indexed("a_o", t)), partial(L, indexed("yhat", t))),
    # the adjoint of the cell by its document name, on either side
    (r"\delta^{c}_{t} = \delta^{h}_{t}", partial(L, indexed("c", t)), partial(L, indexed("h", t))),
])
def test_the_judge_reads_the_documents_names_as_the_models(lstm, text, lhs, rhs):
    claim = read_claim(text, lstm)
    assert (claim.lhs, claim.rhs) == (lhs, rhs)


def test_a_name_beside_a_derivative_it_does_not_denote_is_refused(lstm):
    with pytest.raises(Exception, match="does not denote the derivative beside it"):
        read_claim(r"\bar{o}_{t} = \frac{\partial L}{\partial c_{t}} = \delta^{c}_{t}", lstm)


def test_a_value_the_model_calls_bar_is_the_value_not_an_adjoint():
    """A user's ``\\bar x`` (a model value named xbar) keeps its meaning."""
    from symderive.judge.subject import subject_of_latex
    subject = subject_of_latex([r"\bar{x} = W x", r"L = \frac{1}{2}\|\bar{x} - y\|^2"])
    claim = read_claim(r"\frac{\partial L}{\partial W} = (\bar{x} - y) x^\top", subject)
    assert matrix_symbol("xbar") in claim.rhs.free_symbols


def test_a_definition_given_with_the_claims_is_read_in_the_documents_notation_too():
    """``\\epsilon_t = ∂L/∂a_{o,t}`` (the output gate's pre-activation); ∂L/∂W_io = Σ_t ε_t x_t^T; ε_t h_{t-1}^T has the
    shape of W_oh, not W_io: a wrong claim."""
    from symderive import check
    where = [r"\epsilon_t = \frac{\partial L}{\partial a_{o,t}}"]
    claims = [r"\epsilon_t = \bar{o}_t \odot o_t \odot (1 - o_t)",
              r"\frac{\partial L}{\partial W_{io}} = \sum_{t=1}^T \epsilon_t x_t^T",
              r"\frac{\partial L}{\partial W_{io}} = \sum_{t=1}^T \epsilon_t h_{t-1}^T"]
    assert [r.verdict for r in check(derivation="lstm", where=where, claims=claims)] == ["equal", "equal", "not_equal"]
