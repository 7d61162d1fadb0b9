"""The gradient-flow page of the notes (issue 17): the figure draws a setting that shows the constant error carousel
beside forget bias 0, the prose says which is which, and every number and comparison it states is the run's (read
back from the CSV the same run writes, and the CSV against an independent call of ``flow``). ``notes`` takes the
flow settings as ``flow`` does, refusing the same bad values with the same words."""
import csv
import re

import numpy as np
import pytest

from symderive.cli import main
from symderive.document import flow, flow_page
from symderive.options import RenderOptions

SETTINGS = ["--hidden", "8", "--length", "20", "--seed", "1", "--radius", "1.0", "--forget-bias", "3"]


def sci(x: float) -> str:
    """How the prose writes a norm, formatted here by hand: 2 significant digits, ``m \\times 10^{e}``."""
    exponent = int(np.floor(np.log10(abs(float(f"{x:.1e}")))))
    mantissa = f"{x / 10 ** exponent:.1f}"
    return mantissa if exponent == 0 else rf"{mantissa} \times 10^{{{exponent}}}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow-site")
    assert main(["notes", "-o", str(folder), "--only", "flow", *SETTINGS]) == 0
    text = (folder / "flow.md").read_text(encoding="utf-8")
    with open(folder / "gradient-flow.csv") as f:
        rows = list(csv.DictReader(f))
    columns = {name: np.array([float(r[name]) for r in rows]) for name in rows[0] if name not in ("t", "distance")}
    return text, columns  # each column from distance 0 (t = T) to the largest distance


def test_the_page_states_the_settings_it_was_given(site):
    text, columns = site
    for said in ("hidden size 8", "spectral radius 1,", "seed 1", "$T = 20$", "$b_f = 3$", "dashed: $b_f = 0$"):
        assert said in text, said
    assert set(columns) == {"rnn_h", "lstm_b0_h", "lstm_b0_c", "lstm_h", "lstm_c", "gru_h"}
    assert "their norms fall more slowly" not in text  # before: said of every setting, false at forget bias 0


def test_the_csv_is_the_run_at_both_forget_biases(site):
    _, columns = site
    for bias, key in ((3.0, "lstm"), (0.0, "lstm_b0")):
        norms = flow.flow("lstm", flow.FlowSettings(hidden=8, length=20, seed=1, radius=1.0, forget_bias=bias))
        for state in ("h", "c"):
            np.testing.assert_allclose(columns[f"{key}_{state}"], norms[state][::-1], rtol=1e-6)


def paragraph(text: str, bias: str) -> str:
    return next(p for p in text.split("\n\n") if p.startswith(f"Forget-gate bias $b_f = {bias}$"))


@pytest.mark.parametrize("bias, key", [("0", "lstm_b0"), ("3", "lstm")])
def test_every_number_and_word_of_a_setting_is_the_runs(site, bias, key):
    text, columns = site
    said = paragraph(text, bias)
    c, h, rnn = columns[f"{key}_c"], columns[f"{key}_h"], columns["rnn_h"]
    assert f"cell-state gradient goes from ${sci(c[0])}$ to ${sci(c[-1])}$" in said
    assert f"hidden-state gradient from ${sci(h[0])}$ to ${sci(h[-1])}$" in said
    word = "above" if h[10] > rnn[10] else "below"
    assert f"(${sci(h[10])}$) is {word} the RNN's (${sci(rnn[10])}$)" in said
    carousel = c[-1] / c[0] >= 1e-2  # kept at least 1% over the 19 steps
    assert ("constant error carousel" in said) == carousel
    assert ("does not show the carousel" in said) == (not carousel)
    assert carousel == (bias == "3")  # this run shows it at bias 3 and not at 0, as the page says


def test_the_rnn_and_gru_numbers_are_the_runs(site):
    text, columns = site
    for name in ("rnn_h", "gru_h"):
        assert f"from ${sci(columns[name][0])}$ to ${sci(columns[name][-1])}$" in text, name


def test_a_single_forget_bias_is_drawn_once_and_said_so():
    s = flow.FlowSettings(hidden=4, length=6, seed=0, forget_bias=0.0)
    results = flow.with_baseline(s)
    assert list(results) == ["rnn", "lstm", "gru"]
    for lang, said in (("en", "drawn here at $b_f = 0$"), ("ko", "여기서는 $b_f = 0$로 그렸습니다")):
        text = flow_page.flow_document(RenderOptions(lang=lang), s, results).sections[0].text
        assert said in text and "twice" not in text and "두 번" not in text


def test_an_extreme_forget_bias_is_described_without_overflow():
    s = flow.FlowSettings(hidden=3, length=4, seed=0, forget_bias=-1000.0)  # before: math.exp(1000) overflowed
    text = flow_page.flow_document(RenderOptions(), s, flow.with_baseline(s)).sections[0].text
    assert r"$\sigma(-1000) = 0.00$" in text and r"$\sigma(0) = 0.50$" in text


@pytest.mark.parametrize("option, value", [("--radius", "0"), ("--hidden", "0"), ("--length", "10001"),
                                           ("--seed", "-1"), ("--forget-bias", "nan"), ("--radius", "inf")])
def test_notes_refuses_bad_flow_settings_as_flow_does(tmp_path, capsys, option, value):
    out = tmp_path / "site"
    assert main(["notes", "-o", str(out), f"{option}={value}"]) == 2
    notes_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["flow", f"{option}={value}"]) == 2
    flow_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.sub(r"^.*?error: ", "", notes_error) == re.sub(r"^.*?error: ", "", flow_error)
    assert not out.exists()


def test_the_notes_draw_a_carousel_setting_by_default():
    assert flow_page.NOTES_FLOW.forget_bias == 2.0 and flow.FlowSettings().forget_bias == 0.0
