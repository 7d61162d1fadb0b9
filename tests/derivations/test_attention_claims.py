"""Claims about softmax, attention and layer norm written by hand: the right ones hold (in the documents'
notation and in FlashAttention's), the usual mistakes are named."""
import pytest

import symderive as sd


def judge(name, claim):
    [result] = sd.check(derivation=name, claims=[claim])
    return result


@pytest.mark.parametrize("name,claim", [
    ("softmax", r"\frac{\partial s}{\partial z} = \operatorname{diag}(s) - s s^\top"),
    ("softmax", r"\frac{\partial L}{\partial z} = s \odot (g - (g^\top s) \mathbf{1})"),
    ("attention", r"\frac{\partial L}{\partial V} = P^\top G"),
    ("attention", r"\frac{\partial L}{\partial S} = P \odot (\bar P - \operatorname{rowsum}(\bar P \odot P) "
                  r"\mathbf{1}^\top)"),
    ("attention", r"\bar S = P \odot (G V^\top - \operatorname{rowsum}(G \odot O) \mathbf{1}^\top)"),  # FlashAttention
    ("attention", r"\frac{\partial L}{\partial Q} = \frac{1}{\sqrt{d_k}} \bar S K"),
    ("attention", r"\frac{\partial L}{\partial K} = \frac{1}{\sqrt{d_k}} \bar S^\top Q"),
    ("layernorm", r"\frac{\partial L}{\partial X} = \frac{1}{\sqrt{\operatorname{var}(X) + \epsilon}} \mathbf{1}^\top "
                  r"\odot (\bar{\hat X} - \operatorname{mean}(\bar{\hat X}) \mathbf{1}^\top - \hat X \odot "
                  r"\operatorname{mean}(\bar{\hat X} \odot \hat X) \mathbf{1}^\top)"),
    ("layernorm", r"\frac{\partial L}{\partial \gamma} = (\bar Y \odot \hat X)^\top \mathbf{1}"),
])
def test_right_claims_hold(name, claim):
    result = judge(name, claim)
    assert result.holds, (result.verdict, result.diagnosis)


@pytest.mark.parametrize("name,claim,diagnosis", [
    ("softmax", r"\frac{\partial s}{\partial z} = \operatorname{diag}(s)", r"the term $- s s^\top$ of the softmax"),
    ("attention", r"\frac{\partial L}{\partial V} = P G", "a transpose is missing: $P$ should be ${P}^{\\top}$"),
    ("attention", r"\frac{\partial L}{\partial Q} = \bar S K", r"the factor $\frac{1}{\sqrt{d_{k}}}$ of the scores is "
                                                              "missing"),
    ("attention", r"\frac{\partial L}{\partial K} = \frac{1}{d_k} \bar S^\top Q", "appears twice"),
    ("attention", r"\frac{\partial L}{\partial S} = P \odot \bar P", "the row-sum term"),
])
def test_mistakes_are_named(name, claim, diagnosis):
    result = judge(name, claim)
    assert result.verdict == "not_equal" and diagnosis in result.diagnosis, result.diagnosis


def test_a_layer_norm_backward_without_the_projection_does_not_hold():
    claim = (r"\frac{\partial L}{\partial X} = \frac{1}{\sqrt{\operatorname{var}(X) + \epsilon}} \mathbf{1}^\top \odot "
             r"(\bar{\hat X} - \operatorname{mean}(\bar{\hat X}) \mathbf{1}^\top)")
    result = judge("layernorm", claim)
    assert result.verdict == "not_equal"


def test_token_matrices_are_read_in_their_own_layout():
    # Y-bar 1 sums rows (N entries); read as the transposed layout it would pass for the column sums of beta-bar.
    result = judge("layernorm", r"\frac{\partial L}{\partial \beta} = \bar Y \mathbf{1}")
    assert not result.holds
