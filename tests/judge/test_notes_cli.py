"""``symderive check NOTES``: exit status 0/1/2, the report's lines, --json's keys, --format for standard input,
and --fix writing a corrected copy (never the original without --force)."""
import io
import json
import sys

import pytest

from symderive.cli import main

RIGHT = "# Notes\n\n$$z = W x$$\n$$L = \\frac{1}{2}\\|z\\|^2$$\n\n$$\\frac{\\partial L}{\\partial W} = z x^\\top$$\n"
WRONG = RIGHT.replace("z x^\\top$$", "z x$$\n\n$$p(a, b) = p(a) p(b \\mid a)$$")
KEYS = ["line", "kind", "verdict", "latex", "diagnosis", "correct", "reason"]


@pytest.fixture
def notes(tmp_path):
    def write(text, name="notes.md"):
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8"))
        return path
    return write


def test_every_claim_holds_exit_0(notes, capsys):
    path = notes(RIGHT)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{path}:3: model (model 1)  z = W x", f"{path}:4: model (model 1)  L = \\frac{{1}}{{2}}\\|z\\|^2",
                   f"{path}:6: holds  \\frac{{\\partial L}}{{\\partial W}} = z x^\\top",
                   "3 equations: 2 model, 0 definitions, 1 holds, 0 do not hold, 0 not checked"]


def test_a_wrong_claim_exit_1_with_its_diagnosis(notes, capsys):
    path = notes(WRONG)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:6: does not hold" in out and "transpose" in out
    assert f"{path}:8: not checked (a probability statement" in out
    assert out.rstrip().endswith("4 equations: 2 model, 0 definitions, 0 hold, 1 does not hold, 1 not checked")


def test_json_is_one_array_with_exactly_the_keys(notes, capsys):
    assert main(["check", str(notes(WRONG)), "--json"]) == 1
    records = json.loads(capsys.readouterr().out)
    assert [list(r) for r in records] == [KEYS] * 4
    assert [(r["line"], r["kind"], r["verdict"]) for r in records] == [
        (3, "model", "not_checked"), (4, "model", "not_checked"), (6, "claim", "does_not_hold"),
        (8, "other", "not_checked")]
    assert records[2]["diagnosis"] and records[3]["reason"] and records[0]["diagnosis"] is None


def test_standard_input_needs_a_format(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(RIGHT.encode("utf-8"))))
    assert main(["check", "-", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("<stdin>:3: model")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(RIGHT.encode("utf-8"))))
    assert main(["check", "-"]) == 2
    assert "--format" in capsys.readouterr().err


def test_unreadable_notes_exit_2(notes, tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.md")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    bad = tmp_path / "latin1.md"
    bad.write_bytes("caf\xe9 $$a = b$$".encode("latin-1"))
    assert main(["check", str(bad)]) == 2
    assert main(["check", str(notes("<!-- symderive: frobnicate -->\n"))]) == 2
    assert "unknown annotation" in capsys.readouterr().err


def test_notes_and_model_options_are_not_mixed(notes, capsys):
    assert main(["check", str(notes(RIGHT)), "--format", "md", "--claim", "x = y"]) == 2
    assert main(["check", "rnn", "--fix"]) == 2


def test_fix_writes_a_corrected_copy_and_leaves_the_notes(notes, capsys):
    path = notes(WRONG.replace("\n", "\r\n"))
    before = path.read_bytes()
    assert main(["check", str(path), "--fix"]) == 1
    copy = path.with_name("notes.fixed.md")
    assert path.read_bytes() == before and b"\r\n" in copy.read_bytes()
    assert main(["check", str(copy)]) == 0  # the corrected claim holds; the factorization is still not checked
    assert main(["check", str(path), "--fix"]) == 2  # the copy exists: --force to replace it
    assert "exists" in capsys.readouterr().err


def test_fix_in_place_only_with_force(notes, capsys):
    path = notes(WRONG)
    assert main(["check", str(path), "--fix", str(path)]) == 2
    assert path.read_text(encoding="utf-8") == WRONG
    assert main(["check", str(path), "--fix", str(path), "--force"]) == 1
    assert main(["check", str(path)]) == 0
