"""The notes site on disk: planted links are never followed, two runs into one folder take turns,
and an interrupted or killed run leaves the folder whole (every file or none) and nothing in the
system's temporary folder."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from symderive.cli import main
from symderive.document.notes import expected_files, write_notes
from symderive.errors import ExportError

# Runs `symderive` after pausing once in one phase: right after rendering ("render") or right after
# staging the first file ("stage"), touching a marker file so that the test knows where it is.
PAUSING_CHILD = """
import pathlib, sys, time
from symderive.cli import main
from symderive.document import notes
from symderive.export import files

marker, phase, pause = pathlib.Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])


def paused(real):
    def run(*args, **kwargs):
        result = real(*args, **kwargs)
        if not marker.exists():
            marker.touch()
            time.sleep(pause)
        return result
    return run


if phase == "render":
    notes.render = paused(notes.render)
else:
    files.stage = paused(files.stage)
sys.exit(main(sys.argv[4:]))
"""


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def child_env(tmp_path):
    """An environment whose system temporary folder is a fresh one the test can look into."""
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "MPLCONFIGDIR": str(tmp_path / "mpl")}


def start_paused(tmp_path, env, phase, pause, *args):
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", PAUSING_CHILD, str(marker), phase, str(pause), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return child


def test_planted_links_at_the_old_staging_names_are_not_followed(tmp_path):
    # Before: the figure and its data were staged as .gradient-flow.png.tmp and .gradient-flow.csv.tmp,
    # and the file a link planted there pointed to was overwritten.
    site, victim = tmp_path / "site", tmp_path / "victim"
    site.mkdir()
    victim.write_text("precious")
    planted = [".gradient-flow.png.tmp", ".gradient-flow.csv.tmp", ".index.md.tmp", ".notes.tex.tmp"]
    for name in planted:
        (site / name).symlink_to(victim)
    write_notes(site, only=["flow"])
    assert victim.read_text() == "precious"
    assert listing(site) == sorted(planted + expected_files(["flow"]))
    assert (site / "gradient-flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_link_in_place_of_a_page_is_refused_even_with_force(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.md").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ExportError, match="index.md is a symbolic link"):
        write_notes(site, only=["bptt"], force=True)
    assert listing(site) == ["index.md"]


def test_an_empty_output_name_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["notes", "-o", "", "--only", "dense"]) == 2
    assert "argument -o/--output: expected a file or folder name, got an empty one" in capsys.readouterr().err
    assert listing(tmp_path) == []


def test_two_runs_into_one_folder_cannot_both_succeed(tmp_path, child_env):
    # Before: an English and a Korean run at once both succeeded, the second replacing the first's site.
    site = tmp_path / "site"
    runs = [subprocess.Popen([sys.executable, "-m", "symderive", "notes", "-o", str(site), "--only", "dense",
                              "flow", "--lang", lang], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=child_env) for lang in ("en", "ko")]
    outcomes = [(run.wait(120), run.communicate()[1]) for run in runs]
    assert sorted(code for code, _ in outcomes) == [0, 2], outcomes
    assert "pass --force" in next(err for code, err in outcomes if code == 2)
    winner = "ko" if outcomes[1][0] == 0 else "en"
    assert listing(site) == sorted(expected_files(["dense", "flow"]))
    for name in ("dense.md", "flow.md", "index.md"):
        assert ("lang: ko" in (site / name).read_text(encoding="utf-8")) == (winner == "ko")
    assert listing(tmp_path / "tmp") == []


@pytest.mark.parametrize("signum,status,line", [(signal.SIGTERM, 143, "symderive: terminated (SIGTERM)"),
                                                (signal.SIGINT, 130, "symderive: interrupted")])
def test_a_run_stopped_while_rendering_writes_nothing(tmp_path, child_env, signum, status, line):
    site = tmp_path / "site"
    child = start_paused(tmp_path, child_env, "render", 60, "notes", "-o", str(site), "--only", "dense")
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, err) == (status, line + "\n")
    assert not site.exists() and listing(tmp_path / "tmp") == []


def test_a_run_terminated_while_writing_finishes_the_site_first(tmp_path, child_env):
    site = tmp_path / "site"
    child = start_paused(tmp_path, child_env, "stage", 1, "notes", "-o", str(site), "--only", "dense", "flow")
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 143 and err.splitlines()[-1] == "symderive: terminated (SIGTERM)"  # after progress
    assert "Traceback" not in err
    assert listing(site) == sorted(expected_files(["dense", "flow"]))  # every file, no staged one
    assert listing(tmp_path / "tmp") == []


def test_a_run_killed_while_writing_leaves_no_page_and_nothing_in_the_temporary_folder(tmp_path, child_env):
    # SIGKILL cannot be handled: what remains are the hidden staged files in the site's folder, never a
    # visible page (before: a 0-byte .tmp in the folder and a symderive-notes-* folder in the system's).
    site = tmp_path / "site"
    child = start_paused(tmp_path, child_env, "stage", 60, "notes", "-o", str(site), "--only", "dense", "flow")
    child.kill()
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert all(re.fullmatch(r"\..+\.tmp", name) for name in listing(site)), listing(site)
    assert listing(tmp_path / "tmp") == []
