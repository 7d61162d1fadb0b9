r"""Claims about the multi-head built-ins (mha, transformer): the judge's sizes let the heads divide the width.

Hand-derived expectations, for ``Y = O W_o^\top + \mathbf{1} b_o^\top`` with upstream gradient ``G``:
``\partial L/\partial W_o = G^\top O`` and ``\partial L/\partial b_o = G^\top \mathbf{1}``; a key bias adds
``(Q_h b_k)_i`` to every entry of row i of the scores, which a row-wise softmax does not see, so
``\partial L/\partial b_k = 0`` while the query bias's gradient is not 0.
"""
import numpy as np
import pytest

from symderive.derivations import derivation
from symderive.judge.check import check
from symderive.judge.compare import difference
from symderive.judge.point import size_cases
from symderive.judge.subject import subject_of_derivation


def verdicts(name, *claims):
    return [r.verdict for r in check(derivation=name, claims=list(claims))]


@pytest.mark.parametrize("name", ["mha", "transformer"])
def test_sizes_let_the_heads_divide_the_width(name):
    for sizes in size_cases(subject_of_derivation(derivation(name))):
        named = {str(k): v for k, v in sizes.items()}
        assert named["D"] % named["heads"] == 0 and named["D"] > named["heads"]
        assert len(set(named.values())) == len(named)  # no square matrix hides a transposition


@pytest.mark.parametrize("name", ["mha", "transformer"])
def test_a_wrong_input_gradient_is_refuted_not_a_traceback(name):
    (result,) = check(derivation=name, claims=[r"\frac{\partial L}{\partial X} = G"])
    assert result.verdict == "not_equal", result.diagnosis
    assert "heads=2" in result.method


def test_output_projection_claims_hold_and_wrong_ones_do_not():
    assert verdicts("mha", r"\frac{\partial L}{\partial W_o} = G^\top O",
                    r"\frac{\partial L}{\partial b_o} = G^\top \mathbf{1}",
                    r"\frac{\partial L}{\partial W_o} = O^\top G") == ["equal", "equal", "not_equal"]


def test_the_key_bias_gradient_is_zero_and_the_query_bias_gradient_is_not():
    assert verdicts("mha", r"\frac{\partial L}{\partial b_k} = 0",
                    r"\frac{\partial L}{\partial b_q} = 0") == ["equal", "not_equal"]


def test_rounding_below_the_absolute_tolerance_is_no_difference():
    assert difference(np.zeros((3, 1)), np.full((3, 1), 1e-17)) < 1e-8
    assert difference(np.zeros((3, 1)), np.full((3, 1), 1e-3)) == pytest.approx(1.0)
