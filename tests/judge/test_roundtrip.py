r"""The checker reads what the tool writes (issue 14): every gradient and adjoint equation of every
matrix-level built-in document, in both layouts, bold or not, copied from the rendered LaTeX and fed back
to ``check``, holds.

The derivative each claim is compared with comes from the derived backward program, itself verified three
ways in tests/derivations; here what is tested is the reading: the documents' notation (``\bar{a}_{o,t}``,
``\delta^{c}_{t}``, ``\operatorname{diag}``, ``\mathbf{W}``, ``NAME = \frac{\partial L}{\partial v} = ...``) and
the row layout (every vector a row, the claim the transpose of the column form). The controls below show
the reading is not a rubber stamp: each document equation with one factor changed does not hold.
"""
import itertools

import pytest

import symderive as sd
from symderive import check
from symderive.judge.compare import read_claim
from symderive.judge.subject import subject_of_derivation
from symderive.latex.parsed import ONES
from tests.judge.document_claims import claims_of

MATRIX_LEVEL = ("dense", "rnn", "lstm", "gru")
LAYOUTS = list(itertools.product(MATRIX_LEVEL, ("column", "row")))


def document_claims(name, layout, bold):
    return claims_of(sd.derivation(name).to_latex("latex", layout=layout, bold=bold))


@pytest.mark.slow
@pytest.mark.parametrize("name, layout", LAYOUTS)
def test_every_gradient_and_adjoint_of_a_document_holds(name, layout):
    claims = document_claims(name, layout, False)
    assert len(claims) >= 6, claims  # the extraction found the equations (dense has six)
    failures = [r for r in check(derivation=name, claims=claims) if not r.holds]
    assert not failures, "\n".join(f"{r.claim}\n  {r.verdict}: {r.diagnosis}" for r in failures)


@pytest.mark.parametrize("name, layout", LAYOUTS)
def test_a_bold_document_reads_as_the_plain_one(name, layout):
    r"""The bold document (``\mathbf{W}_{hh}``, ``\mathbf{1}``) says what the plain one says: each of its claims
    reads as the plain claim (``\mathbf{1}`` is the ones of any size, 1 in an entrywise sum), so it holds as
    that one does (judged above)."""
    subject = subject_of_derivation(sd.derivation(name))
    plain, bold = (document_claims(name, layout, b) for b in (False, True))
    assert len(plain) == len(bold)
    for p, b in zip(plain, bold):
        read_plain, read_bold = read_claim(p, subject), read_claim(b, subject)
        assert (read_plain.lhs, read_plain.rhs) == (read_bold.lhs, read_bold.rhs.xreplace({ONES: 1})), (p, b)


def test_the_extraction_finds_the_adjoint_recurrence_and_its_last_step():
    claims = document_claims("rnn", "column", False)
    assert any(c.startswith(r"\delta_{T} = \frac{\partial L}{\partial h_{T}} =") for c in claims), claims
    assert any(c.startswith(r"\frac{\partial h_{j}}{\partial h_{j-1}} =") for c in claims), claims
    lstm = document_claims("lstm", "row", True)
    assert any(r"\delta^{c}_{t}" in c for c in lstm) and any(r"\bar{\mathbf{a}}_{o,t}" in c for c in lstm), lstm


@pytest.mark.parametrize("layout, claim", [
    # the column document's Jacobian with W_hh transposed, and the row document's in the column order
    ("column", r"\frac{\partial h_{j}}{\partial h_{j-1}} = \operatorname{diag}\left(1 - h_{j} \odot h_{j}\right) "
               r"W_{hh}^{\top}"),
    ("row", r"\frac{\partial h_{j}}{\partial h_{j-1}} = \mathbf{W}_{hh}^{\top} \operatorname{diag}\left(\mathbf{1} - "
            r"\mathbf{h}_{j} \odot \mathbf{h}_{j}\right)"),
    # the row document's gradient of W_hh with the adjoint at the previous step
    ("row", r"\frac{\partial L}{\partial \mathbf{W}_{hh}} = \sum_{t=1}^{T} \mathbf{h}_{t-1}^{\top} \left(\delta_{t-1} "
            r"\odot \left(\mathbf{1} - \mathbf{h}_{t} \odot \mathbf{h}_{t}\right)\right)"),
    # the row document's adjoint recurrence without the transpose of W_hh
    ("row", r"\delta_{t} = \frac{\partial L}{\partial h_{t}} = \left(\mathbf{o}_{t} - \mathbf{y}_{t}\right) "
            r"\mathbf{W}_{hy}^{\top} + \left(\delta_{t+1} \odot \left(\mathbf{1} - \mathbf{h}_{t+1} \odot "
            r"\mathbf{h}_{t+1}\right)\right) \mathbf{W}_{hh}"),
])
def test_a_document_equation_with_one_factor_changed_does_not_hold(layout, claim):
    [r] = check(derivation="rnn", claims=[claim])
    assert r.verdict == "not_equal", r


def test_a_row_form_claim_is_read_in_the_row_layout_and_says_so():
    """``show rnn --layout row`` prints the Jacobian as ``W_{hh} diag(1 - h_t^2)`` (denominator layout)."""
    [r] = check(derivation="rnn", claims=[r"\frac{\partial h_t}{\partial h_{t-1}} = W_{hh} \mathrm{diag}(1 - h_t^2)"])
    assert r.holds and "row layout" in r.method, r
    [r] = check(derivation="rnn", claims=[r"\frac{\partial h_t}{\partial h_{t-1}} = \mathrm{diag}(1 - h_t^2) W_{hh}"])
    assert r.holds and "row layout" not in r.method, r


def test_lstm_adjoint_of_the_cell_in_the_document_notation():
    claims = [r"\frac{\partial L}{\partial c_t} = \delta^c_t",
              r"\delta^{c}_{t} = \delta^{h}_{t} \odot o_t \odot (1 - \tanh(c_t)^2) + \delta^{c}_{t+1} \odot f_{t+1}",
              r"\frac{\partial L}{\partial a_{o,t}} = \bar{o}_t \odot o_t \odot (1 - o_t)"]
    assert [r.verdict for r in check(derivation="lstm", claims=claims)] == ["equal"] * 3
