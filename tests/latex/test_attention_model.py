r"""A user's own attention model written in LaTeX, checked as the built-in is.

Hand-derived expectations (scaled dot-product attention, rows are tokens, ``\bar X = \partial L/\partial X``):
``S = Q K^\top / \sqrt{d_k}``, ``P = \operatorname{softmax}_{\text{row}}(S)``, ``O = P V`` give
``\bar V = P^\top \bar O``, ``\bar P = \bar O V^\top``,
``\bar S = P \odot (\bar P - \operatorname{rowsum}(P \odot \bar P) \mathbf{1}^\top)`` (each row's softmax Jacobian is
``\operatorname{diag}(p) - p p^\top``), ``\bar Q = \bar S K / \sqrt{d_k}`` and ``\bar K = \bar S^\top Q / \sqrt{d_k}``.
"""
import numpy as np
import pytest
import sympy as sp

from symderive.errors import SymderiveError
from symderive.judge.check import check
from symderive.latex.model import build_model
from symderive.latex.reader import parse_sides
from symderive.latex.rewrites import ROW_SOFTMAX, rewrite
from symderive.matrix import evaluate as ev
from symderive.ops.rows import SoftmaxRows

SCORES = r"S = \frac{Q K^\top}{\sqrt{d_k}}"
REST = [r"O = P V", r"L = \ell(O)"]


def model(softmax=r"\operatorname{softmax}(S)"):
    return [SCORES, f"P = {softmax}", *REST]


def verdicts(*claims, shapes=None, softmax=r"\operatorname{softmax}(S)"):
    return [r.verdict for r in check(model=model(softmax), claims=list(claims), shapes=shapes)]


def test_a_root_of_d_k_is_a_size_not_d_indexed_by_k():
    (value,) = parse_sides(r"\frac{1}{\sqrt{d_k}}")
    assert rewrite(value) == 1 / sp.sqrt(sp.Symbol("d_k", integer=True, positive=True))
    (value,) = parse_sides(r"\sqrt{d_t}")  # t indexes time steps: not a size
    assert isinstance(rewrite(value).base, sp.Indexed)


@pytest.mark.parametrize("softmax", [r"\operatorname{softmax}_{\text{row}}(S)", r"\mathrm{softmax}_{rows}(S)"])
def test_a_softmax_subscripted_row_is_read_as_row_wise(softmax):
    (value,) = parse_sides(softmax)
    assert type(rewrite(value)).__name__ == ROW_SOFTMAX


@pytest.mark.parametrize("softmax", [r"\operatorname{softmax}(S)", r"\mathrm{softmax}(S)",
                                     r"\operatorname{softmax}_{\text{row}}(S)"])
def test_the_model_computes_scaled_dot_product_attention(softmax):
    program = build_model(model(softmax)).program
    assert any(a.expr.atoms(SoftmaxRows) or isinstance(a.expr, SoftmaxRows) for a in program.assignments)
    sizes = {d: 2 + i for i, d in enumerate(program.dims())}
    rng = np.random.default_rng(0)
    arrays = {v.name: rng.standard_normal(tuple(int(sp.sympify(d).xreplace(sizes)) for d in v.shape))
              for v in (*program.params, *program.inputs)}
    env = ev.bind(program, arrays, sizes, ev.NUMPY)
    ev.forward(program, env)
    Q, K, V = arrays["Q"], arrays["K"], arrays["V"]
    scores = Q @ K.T / np.sqrt(Q.shape[1])  # d_k is the size Q K^T contracts over
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    assert np.allclose(np.asarray(env["O"], dtype=float), weights @ V, rtol=1e-12, atol=1e-12)


def test_right_claims_hold_and_wrong_ones_do_not():
    assert verdicts(r"\frac{\partial L}{\partial V} = P^\top \frac{\partial L}{\partial O}",
                    r"\frac{\partial L}{\partial V} = P \frac{\partial L}{\partial O}",
                    r"\frac{\partial L}{\partial S} = P \odot (\bar P - \operatorname{rowsum}(P \odot \bar P) "
                    r"\mathbf{1}^\top)",
                    r"\frac{\partial L}{\partial S} = P \odot \bar P",
                    r"\frac{\partial L}{\partial Q} = \frac{1}{\sqrt{d_k}} \bar S K",
                    r"\frac{\partial L}{\partial Q} = \frac{1}{d_k} \bar S K",
                    softmax=r"\operatorname{softmax}_{\text{row}}(S)") == [
        "equal", "not_equal", "equal", "not_equal", "equal", "not_equal"]


def test_shapes_may_name_the_sizes():
    assert verdicts(r"\frac{\partial L}{\partial K} = \frac{1}{\sqrt{d_k}} \bar S^\top Q",
                    r"\frac{\partial L}{\partial K} = \bar S^\top Q",
                    shapes=["Q: N x d_k", "K: M x d_k"]) == ["equal", "not_equal"]


def test_a_size_that_does_not_fit_is_refused_with_a_message():
    with pytest.raises(SymderiveError, match="contracts over a size d, not d_k"):
        build_model(model(), ["Q: N x d"])
    with pytest.raises(SymderiveError, match="no shape has it"):
        build_model([r"y = \sqrt{d_k} x", r"L = \ell(y)"])


def test_a_claim_dividing_by_d_k_has_no_stray_index_k():
    (result,) = check(derivation="attention", claims=[r"\frac{\partial L}{\partial Q} = \frac{1}{d_k} \bar S K"])
    assert result.verdict == "not_equal"
    assert "k" not in result.counterexample["indices"] and "twice" in result.diagnosis
