"""The LaTeX reading layer: a corpus of formulas with independently written meanings, refusals,
and random input that may only ever raise our own parse error."""
import re
import time

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.parsing.sympy_parser import parse_expr

from symderive import LatexParseError, parse_latex
from symderive.latex.parsed import concat, entry, hadamard, norm, partial, transpose
from tests.latex.latex_corpus import CORPUS, REFUSED

OPS = {"transpose": transpose, "hadamard": hadamard, "partial": partial, "norm": norm, "concat": concat,
       "entry": entry, "Eq": lambda a, b: sp.Eq(a, b, evaluate=False), "Sum": sp.Sum, "Product": sp.Product,
       "KroneckerDelta": sp.KroneckerDelta, "sqrt": sp.sqrt,
       "S": lambda name: sp.Symbol(name, commutative=False), "F": sp.Function}


def integer(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True) if name == "T" else sp.Symbol(name, integer=True)


def expected(text: str):
    """The expected value, read by SymPy from the corpus's Python spelling: names before '[' are
    sequences, before '(' functions; names inside [...], in sum limits or in KroneckerDelta are
    integers; every other name is a non-commutative (matrix) symbol."""
    bases = set(re.findall(r"\b([A-Za-z_]\w*)\[", text))
    calls = set(re.findall(r"\b([A-Za-z_]\w*)\(", text)) - set(OPS)
    names = set(re.findall(r"(?<![\"'\w])([A-Za-z_]\w*)\b(?![\"'])", text)) - bases - calls - set(OPS)
    index_chunks = re.findall(r"\[([^\]]*)\]", text) + re.findall(r"\((\w+), ([^()]*), ([^()]*)\)", text)
    index_chunks += re.findall(r"KroneckerDelta\(([^)]*)\)", text) + re.findall(r"entry\(.*, (\w+)\)", text)
    flat = " ".join(c if isinstance(c, str) else " ".join(c) for c in index_chunks)
    integers = set(re.findall(r"[A-Za-z_]\w*", flat)) | {"T"}
    local = dict(OPS)
    local.update({b: sp.IndexedBase(sp.Symbol(b, commutative=False)) for b in bases})
    local.update({c: sp.Function(c) for c in calls})
    local.update({n: integer(n) if n in integers else sp.Symbol(n, commutative=False) for n in names})
    return parse_expr(text, local_dict=local, evaluate=True)


def test_corpus_has_at_least_100_formulas():
    assert len(CORPUS) >= 100


@pytest.mark.parametrize("latex, want", CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_corpus(latex, want):
    got, want = parse_latex(latex), expected(want)
    non_commutative = sp.srepr(got).count("commutative=False"), sp.srepr(want).count("commutative=False")
    assert str(got) == str(want) and non_commutative[0] == non_commutative[1], f"{latex}\n got:  {got}\n want: {want}"


@pytest.mark.parametrize("latex, message", REFUSED, ids=[r[0][:30] for r in REFUSED])
def test_refused_with_our_error(latex, message):
    start = time.perf_counter()
    with pytest.raises(LatexParseError) as info:
        parse_latex(latex)
    assert time.perf_counter() - start < 5
    lines = str(info.value).splitlines()
    assert lines[0] == message
    assert lines[-1].strip() == "^"


def test_parse_error_points_at_the_position():
    with pytest.raises(LatexParseError) as info:
        parse_latex(r"h_t = \tanh(W h_{t-1} + \foo)")
    lines = str(info.value).splitlines()
    assert lines[0] == r"unknown command \foo"
    assert lines[1].index(r"\foo") == lines[2].index("^")


def test_transpose_is_never_dropped_and_products_keep_their_order():
    assert parse_latex(r"W^T x") != parse_latex(r"W x")
    assert parse_latex(r"x^T W") != parse_latex(r"W x^T")
    assert parse_latex(r"A B") != parse_latex(r"B A")


def test_sum_upper_bound_T_is_not_a_transpose_and_the_body_depends_on_t():
    s = parse_latex(r"\sum_{t=1}^{T} h_t")
    assert isinstance(s, sp.Sum) and s.limits[0][2] == integer("T")
    assert s.function.has(integer("t"))


def test_prime_is_kept_and_layer_label_is_not_a_power():
    assert type(parse_latex(r"\sigma'(z)")).__name__ == "sigma'"
    assert not parse_latex(r"W^{(1)}").is_Pow


def test_no_symbol_is_named_after_a_latex_command():
    for latex, _ in CORPUS:
        names = {s.name for s in parse_latex(latex).atoms(sp.Symbol)}
        assert not any(n in ("frac", "left", "right", "odot", "cdot", "mathbf", "partial", "top") for n in names), latex


LATEX_PIECES = st.sampled_from(["x", "W", "h_t", "h_{t-1}", "^T", "^{T}", "^\\top", "\\odot", "+", "-", "(", ")",
                                "{", "}", "[", "]", ",", "\\frac{", "}{", "\\partial", "\\sum_{t=1}^{T}", "\\sigma(",
                                "\\tanh", "'", "_", "^", "=", "2", "\\|", "\\mathbf{", "\\left(", "\\right)",
                                "\\prod_{j}", "\\nabla_", "\\operatorname{diag}", " ", "\\", "&", "\\binom", "\\hat{",
                                "|", ";", "*"])


@settings(max_examples=300, deadline=None)
@given(st.lists(LATEX_PIECES, max_size=14).map("".join))
def test_random_pieces_raise_only_our_error(text):
    try:
        parse_latex(text)
    except LatexParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_text_raises_only_our_error(text):
    try:
        parse_latex(text)
    except LatexParseError:
        pass
