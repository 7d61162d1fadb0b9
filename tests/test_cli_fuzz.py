"""Hypothesis over the command line's argument reading for notes, flow and export: any list of
arguments ends in exit status 0, 1 or 2, never an exception or a traceback.

The slow parts that read no arguments (rendering the pages, the gradient-flow runs past their
random arguments, drawing the figure, generating the module) are quick stand-ins here; everything
that reads, checks and writes is the real code, run in a fresh folder per example holding a file, a
folder, a link, a dangling link and a FIFO to be named as outputs."""
import contextlib
import io
import os
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symderive.cli import main
from symderive.document import flow, notes
from symderive.pipeline import Derivation

# Relative names only (no "/" and no ".."): the runs write into the example's own folder.
TEXT = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), max_size=12).filter(
    lambda s: s != "..")
NAMES = st.sampled_from(["", ".", "site", "out.png", "out.csv", "OUT.CSV", "x.py", "missing/x.py", "file", "folder",
                         "link", "dangling", "fifo"]) | TEXT
NUMBERS = (st.sampled_from(["0", "1", "-1", "30000", "10001", "1e999", "-inf", "nan", "9" * 30, "\u0663", "1_0"])
           | st.integers(-3, 40_000).map(str) | st.floats().map(repr))
WORDS = st.sampled_from(["dense", "rnn", "lstm", "gru", "flow", "bptt", "nosuch", "ko", "en", "row", "column"]) | TEXT
FLAG = None
OPTIONS = {
    "notes": {"-o": NAMES, "--only": WORDS, "--force": FLAG, "--lang": WORDS, "--layout": WORDS, "--bold": FLAG,
              "--index-base": NUMBERS, "--hidden": NUMBERS, "--length": NUMBERS, "--seed": NUMBERS,
              "--radius": NUMBERS, "--forget-bias": NUMBERS},
    "flow": {"--hidden": NUMBERS, "--length": NUMBERS, "--seed": NUMBERS, "--radius": NUMBERS,
             "--forget-bias": NUMBERS, "--plot": NAMES, "--force": FLAG},
    "export": {"-o": NAMES, "--force": FLAG},
}
STRAYS = st.sampled_from(["-h", "--json", "--version", "--", "-", "--nosuch", "-o"]) | WORDS | NUMBERS | NAMES


def option(command: str):
    """An option of ``command`` with a value of its kind (``--opt=value`` when the value starts with -)."""
    def spelled(name):
        values = OPTIONS[command][name]
        if values is FLAG:
            return st.just([name])
        return values.map(lambda v: [f"{name}={v}"] if v.startswith("-") else [name, v])

    return st.sampled_from(sorted(OPTIONS[command])).flatmap(spelled)


def arguments(command: str):
    """Mostly well-formed options, with positional words and now and then a stray token."""
    part = st.one_of(option(command), option(command), option(command), WORDS.map(lambda w: [w]),
                     STRAYS.map(lambda w: [w]))
    return st.lists(part, max_size=6).map(lambda parts: [command] + [token for p in parts for token in p])


@pytest.fixture
def quick(monkeypatch):
    """Stand-ins for the slow parts that read no arguments."""
    def render(options, only=None, progress=None, flow_settings=None):
        names = notes.expected_files(only)
        data = (flow.FlowSettings(length=3), {"rnn": {"h": np.ones(3)}}) if notes.FIGURE in names else None
        return {name: name for name in names if not name.startswith("gradient-flow")}, data

    monkeypatch.setattr(notes, "render", render)

    def flow_norms(name, s):
        flow.arguments(name, replace(s, hidden=2, length=2))  # the seed, radius and forget bias, used for real
        return {"h": np.linspace(1, 2, s.length)}

    monkeypatch.setattr(flow, "flow", flow_norms)
    monkeypatch.setattr(flow, "figure_png", lambda results, s: b"\x89PNG")
    monkeypatch.setattr(Derivation, "module_source", lambda self, backend="numpy": "def grad(): pass\n")


def plant(folder: Path) -> None:
    (folder / "file").write_text("precious")
    (folder / "folder").mkdir()
    (folder / "link").symlink_to(folder / "file")
    (folder / "dangling").symlink_to(folder / "nowhere")
    os.mkfifo(folder / "fifo")


def untouched(folder: Path, force: bool) -> bool:
    """The planted links, FIFO and folder are still there; the file changed only if --force was given."""
    kinds = [os.path.islink(folder / "link"), os.path.islink(folder / "dangling"),
             stat.S_ISFIFO(os.lstat(folder / "fifo").st_mode), (folder / "folder").is_dir()]
    return all(kinds) and (force or (folder / "file").read_text() == "precious")


def exit_status(argv) -> int:
    """``main(argv)`` in a fresh folder, its output swallowed; argparse's --help and --version exit 0."""
    with tempfile.TemporaryDirectory() as folder:
        plant(Path(folder))
        with chdir(folder):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                try:
                    status = main(argv)
                except SystemExit as e:
                    status = e.code
            assert untouched(Path(folder), force=any(token.startswith("--f") for token in argv))  # --fo: --force
    assert "Traceback" not in err.getvalue()
    return status


@contextlib.contextmanager
def chdir(folder):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_any_arguments_end_in_0_1_or_2(quick, command):
    @settings(max_examples=200, deadline=None)
    @given(arguments(command))
    def run(argv):
        assert exit_status(argv) in (0, 1, 2), argv

    run()
