"""`symderive check`: hand-derived claims judged against the engine, with the usual mistakes named.

The claims below are written from the textbook derivations (dense layer, BPTT for a vanilla RNN,
LSTM); each wrong one carries one deliberate mistake and must get that mistake's diagnosis."""
import json

import pytest

from symderive import LatexParseError, SymderiveError, check
from symderive.cli import main

DENSE = [r"z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2"]
RNN = [r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)", r"o_t = W_{hy} h_t + c", r"L = \sum_{t=1}^{T} \ell(o_t, y_t)"]
DELTA = [r"\delta_t = \frac{\partial L}{\partial h_t}"]
GOOD_WHH = r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top"


def one(model, claim, where=(), shapes=None):
    [result] = check(model=model, claims=[claim], where=where, shapes=shapes)
    return result


@pytest.mark.parametrize("claim", [
    r"\frac{\partial L}{\partial W} = ((a - y) \odot a \odot (1 - a)) x^T",
    r"\nabla_W L = \operatorname{diag}(\sigma'(z)) (a - y) x^\top",
    r"\partial_{b} L = (a - y) \circ \sigma(z) \circ (1 - \sigma(z))",
    r"\frac{\partial L}{\partial x} = W^T ((a - y) \odot a \odot (1 - a))",
    r"\frac{\partial a}{\partial z} = \operatorname{diag}(a \odot (1 - a))",
])
def test_correct_dense_claims_hold_numerically_and_symbolically(claim):
    r = one(DENSE, claim)
    assert r.verdict == "equal", r
    assert "proved symbolically" in r.method and r.max_rel_error < 1e-12


@pytest.mark.parametrize("claim, diagnosis", [
    (r"\frac{\partial L}{\partial W} = x ((a - y) \odot a \odot (1 - a))^T", "transpose the right-hand side"),
    (r"\frac{\partial L}{\partial W} = (a - y) x^T", "derivative of sigmoid is missing"),
    (r"\frac{\partial L}{\partial b} = 2 (a - y) \odot \sigma'(z)", "factor of 1/2"),
    (r"\frac{\partial L}{\partial b} = (y - a) \odot \sigma'(z)", "sign"),
    (r"\frac{\partial L}{\partial b} = (a - y) \odot \sigma'(z) \odot \sigma'(z)", "appears twice"),
])
def test_dense_mistakes_are_named(claim, diagnosis):
    r = one(DENSE, claim)
    assert r.verdict == "not_equal" and diagnosis in r.diagnosis, r
    assert r.counterexample and r.counterexample["sizes"]


def test_bptt_claims_that_hold():
    claims = [GOOD_WHH,
              r"\frac{\partial L}{\partial h_t} = W_{hy}^T \frac{\partial \ell_t}{\partial o_t} "
              r"+ W_{hh}^T (\delta_{t+1} \odot (1 - h_{t+1}^2))",
              r"\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2) W_{hh}",
              r"\frac{\partial h_t}{\partial h_i} = \prod_{j=i+1}^{t} \operatorname{diag}(1 - h_j^2) W_{hh}",
              r"\frac{\partial L}{\partial h_0} = W_{hh}^T (\delta_1 \odot (1 - h_1^2))",
              r"\frac{\partial L}{\partial W_{xh}} = \sum_{t=1}^{T} \operatorname{diag}(1 - h_t^2) \delta_t x_t^T"]
    for r in check(model=RNN, claims=claims, where=DELTA):
        assert r.verdict == "equal", r


@pytest.mark.parametrize("claim, diagnosis", [
    (GOOD_WHH.replace("t=1", "t=2"), "should run from t = 1 to T"),
    (GOOD_WHH.replace("h_{t-1}^\\top", "h_{t}^\\top"), "h_{t} should be h_{t - 1}"),
    (r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_t h_{t-1}^\top", "derivative of tanh is missing"),
    (r"\frac{\partial L}{\partial h_t} = W_{hy}^T \frac{\partial \ell_t}{\partial o_t}", "recurrent term is missing"),
    (r"\frac{\partial h_t}{\partial h_{t-1}} = W_{hh}^T \operatorname{diag}(1 - h_t^2)", "transpose"),
    (r"\frac{\partial h_t}{\partial h_i} = \prod_{j=i+1}^{t} W_{hh}^T \operatorname{diag}(1 - h_j^2)", "transpose"),
])
def test_bptt_mistakes_are_named(claim, diagnosis):
    r = one(RNN, claim, DELTA)
    assert r.verdict == "not_equal" and diagnosis in r.diagnosis, r


def test_row_vector_convention_is_read():
    model = [r"H_t = \tanh(X_t W_{xh} + H_{t-1} W_{hh} + b_h)", r"L = \sum_{t=1}^{T} \ell_t"]
    good = (r"\frac{\partial L}{\partial W_{hh}} = "
            r"\sum_{t=1}^{T} H_{t-1}^\top (\frac{\partial L}{\partial H_t} \odot (1 - H_t^2))")
    assert one(model, good).verdict == "equal"


def test_lstm_with_concatenation_and_gate_labels():
    model = [r"f_t = \sigma(W_f [h_{t-1}, x_t] + b_f) \\ i_t = \sigma(W_i [h_{t-1}, x_t] + b_i) \\ "
             r"g_t = \tanh(W_g [h_{t-1}, x_t] + b_g) \\ o_t = \sigma(W_o [h_{t-1}, x_t] + b_o) \\ "
             r"c_t = f_t \odot c_{t-1} + i_t \odot g_t \\ h_t = o_t \odot \tanh(c_t)", r"L = \sum_{t=1}^{T} \ell_t"]
    assert one(model, r"\frac{\partial c_t}{\partial c_{t-1}} = \operatorname{diag}(f_t)").verdict == "equal"
    r = one(model, r"\frac{\partial c_t}{\partial c_{t-1}} = \operatorname{diag}(i_t)")
    assert r.verdict == "not_equal"


def test_built_in_derivation_in_its_notation():
    claims = [GOOD_WHH.replace("(1 - h_t^2)", "(1 - h_t \\odot h_t)"),
              r"\frac{\partial L}{\partial W_{hy}} = \sum_{t=1}^{T} h_t (o_t - y_t)^T"]
    [good, bad] = check(derivation="rnn", claims=claims)
    assert good.verdict == "equal" and bad.verdict == "not_equal" and "transpose" in bad.diagnosis


def test_unknown_symbol_lists_the_models_symbols():
    r = one(RNN, GOOD_WHH.replace("h_{t-1}^\\top", "k_{t-1}^\\top"), DELTA)
    assert r.verdict == "error" and "unknown symbol k" in r.diagnosis and "W_hh, W_hy, W_xh" in r.diagnosis


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(SymderiveError, match=r"shape mismatch.*n x d times e x 1"):
        check(model=[r"z = W x + b", r"L = \frac12\|z - y\|^2"], claims=[r"\partial_W L = 0"],
              shapes={"W": "n x d", "x": "e", "b": "n"})


def test_cli_exit_codes_and_json(capsys):
    base = ["check", *sum((["--model", m] for m in DENSE), [])]
    assert main(base + ["--claim", r"\frac{\partial L}{\partial b} = (a - y) \odot a \odot (1 - a)"]) == 0
    assert main(base + ["--claim", r"\frac{\partial L}{\partial b} = (a - y)", "--json"]) == 1
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["verdict"] == "not_equal" and set(record) >= {"claim", "diagnosis", "max_rel_error", "counterexample"}
    assert main(base + ["--claim", r"\frac{\partial L}{\partial b} = (a - y"]) == 2
    assert "^" in capsys.readouterr().out
    assert main(["check", "--model", r"z = W x +", "--claim", r"\partial_W L = 0"]) == 2
    assert main(["check", "--model", r"L = \|W\|^2", "--claim", r"\partial_Q L = 0"]) == 2


def test_python_api_parse_error_is_ours():
    with pytest.raises(LatexParseError):
        check(model=[r"z = W x + \foo"], claims=[r"\partial_W L = 0"])
