"""Gradient flow: how ``dL_T/dh_t`` (and ``dL_T/dc_t``) shrinks or grows with the distance ``T - t``.

For random inputs and weights (recurrent weights scaled to a chosen spectral radius; the LSTM's
forget-gate bias set as chosen), only the loss of the last step is kept (the targets of earlier steps
equal the outputs, so their residuals vanish), and the exported module's ``adjoints`` give every
``dL_T/dh_t``. This is the vanishing/exploding picture study notes describe in words.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symderive.derivations import derivation
from symderive.errors import ExportError, OptionError
from symderive.export.files import write_atomically
from symderive.model.program import shapes
from symderive.ops.nodes import TimeVar

CELLS = ("rnn", "lstm", "gru")


@dataclass(frozen=True)
class FlowSettings:
    hidden: int = 32
    length: int = 50
    seed: int = 0
    radius: float = 1.0
    forget_bias: float = 0.0
    inputs: int = 8

    def __post_init__(self):
        for name in ("hidden", "length", "inputs"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name} must be a positive integer, not {getattr(self, name)}")
        if not self.radius > 0:
            raise OptionError(f"--radius must be positive, not {self.radius}")


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


def plot(path: Path, results, s: FlowSettings, force: bool = False) -> Path:
    """Gradient norm against distance in time, log scale; the data goes next to it as CSV. Both files
    are written through temporary files and renamed; existing files need ``force``."""
    for target in (path, path.with_suffix(".csv")):
        if target.exists() and not force:
            raise ExportError(f"{target} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist")
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
            ax.semilogy(distance, norms[::-1], label=f"{cell}: $\\|\\partial L_T / \\partial {state}_t\\|$")
    ax.set_xlabel("distance in time $T - t$")
    ax.set_ylabel("gradient norm")
    ax.set_title(f"Gradient flow (hidden {s.hidden}, spectral radius {s.radius}, forget bias {s.forget_bias})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    partial = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(partial, dpi=110)
        os.replace(partial, path)
    finally:
        plt.close(fig)
        partial.unlink(missing_ok=True)
    write_atomically(path.with_suffix(".csv"), csv_text(results, s.length), force=True)
    return path
