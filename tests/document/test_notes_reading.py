"""The notes site read as a student reads it (issue 17): no page repeats its title as a section heading, a fact is
stated once per page, a value's uses are listed once each, and the sentences fixed there say what the formulas say.
Read from the golden pages (tests/golden/notes, pinned to what ``notes`` writes by test_notes.py) in both languages."""
import re
from pathlib import Path

import pytest

from symderive import derivation

GOLDEN = Path(__file__).parents[1] / "golden" / "notes"
PAGES = sorted((lang, p.name) for lang in ("en", "ko") for p in (GOLDEN / lang).glob("*.md") if p.name != "index.md")


def page(lang: str, name: str) -> str:
    return (GOLDEN / lang / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("lang, name", PAGES)
def test_no_section_heading_repeats_the_page_title(lang, name):
    text = page(lang, name)
    title = re.search(r'^title: "(.*)"$', text, re.M).group(1)
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings and title not in headings, (title, headings)


@pytest.mark.parametrize("lang, name", PAGES)
def test_full_bptt_for_k_at_least_t_is_said_at_most_once(lang, name):
    assert page(lang, name).count(r"$K \ge T$") <= 1


USES = {"en": re.compile(r"is used in (.*?); by "), "ko": re.compile(r"의 사용처는 (.*?)입니다\.")}


@pytest.mark.parametrize("lang, name", PAGES)
def test_a_values_uses_are_listed_once_each(lang, name):
    for uses in USES[lang].findall(page(lang, name)):
        listed = re.findall(r"\$[^$]*\$", uses)
        assert len(listed) == len(set(listed)), uses


@pytest.mark.parametrize("lang, said", [("en", r"$z_{t}$ is used in $h_{t}$ (twice); by"),
                                        ("ko", r"$z_{t}$의 사용처는 $h_{t}$(두 번)입니다.")])
def test_the_gru_update_gate_is_used_twice_in_the_state(lang, said):
    text = page(lang, "gru.md")
    assert said in text and r"$h_{t}$, $h_{t}$" not in text


def test_every_reader_of_the_next_step_is_named():
    text = page("en", "lstm.md")
    assert r"is also read by the next step (in $a_{o,t+1}$, $a_{g,t+1}$, $a_{f,t+1}$, $a_{i,t+1}$)" in text


@pytest.mark.parametrize("lang, said, old", [
    ("en", r"$\delta^c_t$ is the path through $h_t$ plus $\delta^c_{t+1} \odot f_{t+1}$",
     r"gets $\delta^c_t \odot f_t$"),
    ("ko", r"$\delta^c_t$는 $h_t$를 거치는 경로에 $\delta^c_{t+1} \odot f_{t+1}$을 더한 것입니다",
     r"$\partial L/\partial c_{t-1}$은"),
])
def test_the_cell_recurrence_is_worded_in_its_own_indices(lang, said, old):
    text = page(lang, "lstm.md")
    assert said in text and old not in text


@pytest.mark.parametrize("lang, title", [("en", "## What truncation drops"), ("ko", "## 잘라 내면 버려지는 항")])
def test_the_truncated_page_ends_with_what_truncation_drops(lang, title):
    text = page(lang, "truncated-bptt.md")
    assert title in text and "## Why truncate" not in text and "## 왜 잘라 내는가" not in text


def test_the_output_layer_and_the_bptt_summary_read_plainly():
    rnn, index = page("en", "rnn.md"), page("en", "index.md")
    assert "are used at every step, so their gradients sum the output error" in rnn
    assert "is used once per step" not in rnn
    assert "(bptt.md): Backpropagation through time:" not in index
    assert "(bptt.md): 시간 역전파(BPTT):" not in page("ko", "index.md")


def test_a_single_truncation_mode_says_k_at_least_t_without_both():
    text = derivation("rnn").to_latex("markdown", truncate=3, truncate_mode="window")
    assert r"$K \ge T$ is full BPTT." in text and "in both kinds" not in text
