"""Gradient flow: the norms against an independent computation, the picture, the files."""
import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest

from symderive.cli import main
from symderive.document import flow
from tests.oracles import rnn as oracle_rnn


def test_rnn_norms_match_the_oracle_backward_from_the_last_loss():
    s = flow.FlowSettings(hidden=12, length=15, seed=3, radius=1.2)
    a = flow.arguments("rnn", s)
    h, o = oracle_rnn.forward(a["W_hh"], a["W_xh"], a["b_h"], a["W_hy"], a["b_y"], a["h0"], a["x"])
    residual = np.random.default_rng(s.seed + 1).standard_normal(o.shape[1])  # as flow() perturbs y_T
    delta = a["W_hy"].T @ residual
    want = [np.linalg.norm(delta)]
    for t in range(s.length, 1, -1):  # delta_{t-1} = W_hh^T (delta_t * (1 - h_t^2)); h[t] is h_t
        delta = a["W_hh"].T @ (delta * (1 - h[t] ** 2))
        want.append(np.linalg.norm(delta))
    np.testing.assert_allclose(flow.flow("rnn", s)["h"][::-1], want, rtol=1e-10)


def test_spectral_radius_is_set():
    a = flow.arguments("gru", flow.FlowSettings(hidden=10, radius=0.7))
    for name in ("W_hr", "W_hz", "W_hn"):
        assert np.isclose(np.max(np.abs(np.linalg.eigvals(a[name]))), 0.7)


def test_forget_gate_carries_the_gradient():
    # The constant error carousel: with the forget gate near 1 the cell-state gradient survives
    # 30 steps, where the vanilla RNN's has vanished (same spectral radius).
    s = flow.FlowSettings(hidden=16, length=31, seed=0, radius=0.9, forget_bias=4.0)
    rnn, lstm = flow.flow("rnn", s), flow.flow("lstm", s)
    assert lstm["c"][0] / lstm["c"][-1] > 1e-2
    assert rnn["h"][0] / rnn["h"][-1] < 1e-4


def test_plot_and_csv(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (optional extra: plot)")
    png = tmp_path / "flow.png"
    assert main(["flow", "--length", "12", "--hidden", "8", "--plot", str(png)]) == 0
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.reader(open(png.with_suffix(".csv"))))
    assert rows[0] == ["t", "distance", "rnn_h", "lstm_h", "lstm_c", "gru_h"] and len(rows) == 13
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["t", "T"] and len(out.splitlines()) == 13
    assert main(["flow", "--length", "12", "--plot", str(png)]) == 2  # exists: needs --force
    assert "already has flow.png, flow.csv; pass --force" in capsys.readouterr().err
    assert main(["flow", "rnn", "--length", "12", "--plot", str(png), "--force"]) == 0


def test_bad_input(capsys):
    assert main(["flow", "dense"]) == 2
    assert "known: rnn, lstm, gru" in capsys.readouterr().err
    assert main(["flow", "--radius", "0"]) == 2


SMALL = ["rnn", "--length", "5", "--hidden", "4"]


def test_plot_never_follows_a_link_planted_at_a_staging_name(tmp_path):
    # Before: the figure was staged under the fixed name .f.png.tmp.png and the link's target overwritten.
    pytest.importorskip("matplotlib", reason="matplotlib not installed (optional extra: plot)")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = [".f.png.tmp.png", ".f.png.tmp", ".f.csv.tmp"]
    for name in planted:
        (tmp_path / name).symlink_to(victim)
    assert main(["flow", *SMALL, "--plot", str(tmp_path / "f.png")]) == 0
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(planted + ["f.csv", "f.png", "victim"])
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_onto_a_link_is_refused_even_with_force(tmp_path, capsys):
    (tmp_path / "f.csv").symlink_to(tmp_path / "nowhere")
    assert main(["flow", *SMALL, "--plot", str(tmp_path / "f.png"), "--force"]) == 2
    assert "f.csv is a symbolic link; symderive replaces only regular files" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


@pytest.mark.parametrize("name", ["out.csv", "OUT.CSV"])
def test_a_plot_named_like_its_data_is_refused(tmp_path, capsys, name):
    # Before: --plot out.csv wrote the CSV over the PNG.
    assert main(["flow", *SMALL, "--plot", str(tmp_path / name)]) == 2
    assert "which would write over the figure; name the figure .png" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_plot_into_an_unwritable_folder_is_an_error(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (optional extra: plot)")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere; /proc takes no new files, even from root
        folder = Path("/proc")
    assert main(["flow", *SMALL, "--plot", str(folder / "f.png")]) == 2
    assert f"symderive: error: cannot write {folder / 'f.png'}: " in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--hidden", "30000"], "--hidden must be an integer from 1 to 1024, not 30000"),
    (["--length", "10001"], "--length must be an integer from 1 to 10000, not 10001"),
    (["--seed", "-1"], "--seed must be a non-negative integer, not -1"),
    (["--radius", "inf"], "--radius must be positive and finite, not inf"),
    (["--radius", "nan"], "--radius must be positive and finite, not nan"),
    (["--forget-bias=-inf"], "--forget-bias must be finite, not -inf"),
])
def test_sizes_and_settings_are_bounded(capsys, args, message):
    # Before: --hidden 30000 ran out of memory (a traceback), --seed -1 was numpy's ValueError.
    start = time.perf_counter()
    assert main(["flow", *args]) == 2
    assert capsys.readouterr().err == f"symderive: error: {message}\n"
    assert time.perf_counter() - start < 2
