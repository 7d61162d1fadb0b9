"""Gradient flow: the norms against an independent computation, the picture, the files."""
import csv

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
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["flow", "rnn", "--length", "12", "--plot", str(png), "--force"]) == 0


def test_bad_input(capsys):
    assert main(["flow", "dense"]) == 2
    assert "known: rnn, lstm, gru" in capsys.readouterr().err
    assert main(["flow", "--radius", "0"]) == 2
