"""Gradient flow: how ``dL_T/dh_t`` (and ``dL_T/dc_t``) shrinks or grows with the distance ``T - t``.

For random inputs and weights (recurrent weights scaled to a chosen spectral radius; the LSTM's
forget-gate bias set as chosen), only the loss of the last step is kept (the targets of earlier steps
equal the outputs, so their residuals vanish), and the exported module's ``adjoints`` give every
``dL_T/dh_t``. This is the vanishing/exploding picture study notes describe in words.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from symderive.derivations import derivation
from symderive.errors import ExportError, OptionError
from symderive.export.files import refuse_targets, write_files
from symderive.model.program import shapes
from symderive.ops.nodes import TimeVar

CELLS = ("rnn", "lstm", "gru")
#: the LSTM again at forget-gate bias 0 (the mean of PyTorch's initialisation), beside a run at another bias
BASELINE = "lstm_b0"
#: a colour per cell and state (the LSTM's baseline dashed in its colours)
COLORS = {("rnn", "h"): "C0", ("lstm", "h"): "C1", ("lstm", "c"): "C2", ("gru", "h"): "C3"}
# The largest sizes a run takes: hidden 1024 and length 10,000 run in minutes and a few hundred MB
# (the spectral radius is an eigenvalue problem of size hidden, about 12 s at 1024 on one core).
LIMITS = {"hidden": 1024, "length": 10_000, "inputs": 1024}


@dataclass(frozen=True)
class FlowSettings:
    hidden: int = 32
    length: int = 50
    seed: int = 0
    radius: float = 1.0
    forget_bias: float = 0.0
    inputs: int = 8

    def __post_init__(self):
        for name, limit in LIMITS.items():
            if not 1 <= getattr(self, name) <= limit:
                raise OptionError(f"--{name} must be an integer from 1 to {limit}, not {getattr(self, name)}")
        if self.seed < 0:
            raise OptionError(f"--seed must be a non-negative integer, not {self.seed}")
        if not (math.isfinite(self.radius) and self.radius > 0):
            raise OptionError(f"--radius must be positive and finite, not {self.radius}")
        if not math.isfinite(self.forget_bias):
            raise OptionError(f"--forget-bias must be finite, not {self.forget_bias}")


def arguments(name: str, s: FlowSettings) -> dict:
    """Random arguments: recurrent weights with spectral radius ``s.radius``, input weights scaled by
    1/sqrt(inputs), zero biases (the LSTM's forget bias ``s.forget_bias``), zero initial states."""
    rng = np.random.default_rng(s.seed)
    dims = {"n": s.hidden, "H": s.hidden, "d": s.inputs, "q": 4, "T": s.length}
    out = {}
    for arg, names in shapes(derivation(name).program).items():
        shape = tuple(dims[n] for n in names)
        if arg in ("h0", "c0") or arg.startswith("b_"):
            out[arg] = np.zeros(shape)
        elif len(shape) == 2 and shape[0] == shape[1] == s.hidden and arg.startswith("W_h") and arg != "W_hy":
            w = rng.standard_normal(shape)
            out[arg] = w * (s.radius / np.max(np.abs(np.linalg.eigvals(w))))
        else:
            out[arg] = rng.standard_normal(shape) / (np.sqrt(shape[1]) if len(shape) == 2 and names[0] != "T" else 1)
    if name == "lstm":
        out["b_if"] = np.full(s.hidden, float(s.forget_bias))
    return out


def output_name(name: str) -> str:
    """The value the loss compares with the target (``o`` for the RNN, ``yhat`` for the gated cells)."""
    program = derivation(name).program
    return next(v.name for v in program.loss.atoms(TimeVar) if v.name in program.defined)


def flow(name: str, s: FlowSettings) -> dict[str, np.ndarray]:
    """``{"h": ||dL_T/dh_t|| for t = 1..T}`` (and ``"c"`` for the LSTM)."""
    module = derivation(name).load_module()
    args = arguments(name, s)
    outputs = module.forward(**args)[output_name(name)]
    rng = np.random.default_rng(s.seed + 1)
    args["y"] = outputs.copy()
    args["y"][-1] += rng.standard_normal(outputs.shape[1])  # only the last step's loss is non-zero
    adjoints = module.adjoints(**args)
    return {state: np.linalg.norm(adjoints[state], axis=1) for state in derivation(name).program.states}


def with_baseline(s: FlowSettings) -> dict[str, dict[str, np.ndarray]]:
    """The three cells at ``s`` and, when ``s`` sets another forget-gate bias, the LSTM at bias 0 as
    ``BASELINE`` (the RNN and the GRU do not depend on it)."""
    baseline = {BASELINE: flow("lstm", replace(s, forget_bias=0.0))} if s.forget_bias != 0 else {}
    return {"rnn": flow("rnn", s), **baseline, "lstm": flow("lstm", s), "gru": flow("gru", s)}


def legend(key: str, s: FlowSettings) -> str:
    """How a run is named in the figure: ``lstm (forget bias 2)``, ``lstm (forget bias 0)`` for the baseline."""
    if key == BASELINE:
        return "lstm (forget bias 0)"
    return f"lstm (forget bias {s.forget_bias:g})" if key == "lstm" else key


def table(results: dict[str, dict[str, np.ndarray]], length: int) -> str:
    columns = [(f"{cell} |dL_T/d{state}_t|", norms) for cell, r in results.items() for state, norms in r.items()]
    head = ["t", "T - t"] + [c for c, _ in columns]
    rows = [[str(t), str(length - t)] + [f"{norms[t - 1]:.3e}" for _, norms in columns] for t in range(length, 0, -1)]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [head] + rows)


def csv_text(results, length: int) -> str:
    columns = [(f"{cell}_{state}", norms) for cell, r in results.items() for state, norms in r.items()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t", "distance"] + [c for c, _ in columns])
    for t in range(length, 0, -1):
        writer.writerow([t, length - t] + [f"{norms[t - 1]:.6e}" for _, norms in columns])
    return out.getvalue()


def data_name(figure: str) -> str:
    """The CSV beside a figure: ``flow.png`` -> ``flow.csv``; refused when it would be the figure itself."""
    if Path(figure).name in ("", ".."):
        raise OptionError(f"--plot {figure}: name a file, such as flow.png")
    data = Path(figure).with_suffix(".csv").name
    if data == Path(figure).name or Path(figure).suffix.lower() == ".csv":
        raise OptionError(f"--plot {figure}: the figure's data goes next to it as {data}, which would write "
                          "over the figure; name the figure .png")
    return data


def check_plot_path(path: Path, force: bool) -> None:
    """Refuse a plot path before anything is computed: its CSV clashes with it, a target exists
    (without ``force``) or is not a regular file, or the folder is missing."""
    refuse_targets(path.parent, [path.name, data_name(str(path))], force)
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist")


def figure_png(results, s: FlowSettings) -> bytes:
    """Gradient norm against distance in time, log scale, as PNG bytes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise OptionError("--plot needs matplotlib: pip install 'symderive[plot]'") from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    distance = np.arange(s.length)
    for cell, r in results.items():
        for state, norms in r.items():
            color = COLORS[("lstm" if cell == BASELINE else cell, state)]
            ax.semilogy(distance, norms[::-1], linestyle="--" if cell == BASELINE else "-", color=color,
                        label=f"{legend(cell, s)}: $\\|\\partial L_T / \\partial {state}_t\\|$")
    ax.set_xlabel("distance in time $T - t$")
    ax.set_ylabel("gradient norm")
    ax.set_title(f"Gradient flow (hidden {s.hidden}, spectral radius {s.radius:g}, seed {s.seed})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=110)
    finally:
        plt.close(fig)
    return png.getvalue()


def figure_files(figure: str, results, s: FlowSettings) -> dict[str, bytes | str]:
    """``{figure: PNG, its .csv: the norms}``."""
    data = data_name(figure)
    return {figure: figure_png(results, s), data: csv_text(results, s.length)}


def plot(path: Path, results, s: FlowSettings, force: bool = False) -> Path:
    """Draw the figure into ``path`` and its data into the .csv beside it, both or neither (see
    :func:`symderive.export.files.write_files`); existing files need ``force``."""
    check_plot_path(path, force)
    write_files(path.parent, figure_files(path.name, results, s), force)
    return path
