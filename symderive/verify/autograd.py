"""An external reference for any matrix-level model: PyTorch's autograd of a program printed from it.

The model's equations are printed as a PyTorch program (:mod:`symderive.verify.torch_program`: the
forward assignments, the loop over t, the loss, each elementwise function through its registered torch
equivalent) and torch differentiates that program's loss itself. Nothing of the derivation (no VJP rule, no
derived formula, no generated NumPy code, not our reference interpreter) takes part, so agreement is
evidence from outside; the program is source a person can read (``PrintedProgram(program).source``).
"""
from __future__ import annotations

import importlib.util
import types
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from symderive.matrix.numpy_printer import identifier
from symderive.model.program import Program
from symderive.verify.torch_program import python_names, torch_program_source


@dataclass(frozen=True, eq=False)
class PrintedProgram:
    """The torch reference of a model: ``PrintedProgram(program)(arrays)`` is dL/d(argument) for every
    argument by torch autograd of the printed program, or None when torch is not installed."""

    program: Program
    description = "torch autograd of the printed program"

    @cached_property
    def source(self) -> str:
        """The printed program (``loss`` and ``grad``), the same for the same model."""
        return torch_program_source(self.program)

    def load(self) -> types.ModuleType:
        """The printed program as a module (it imports torch)."""
        module = types.ModuleType(f"symderive_torch_{identifier(self.program.name)}")
        exec(compile(self.source, module.__name__, "exec"), module.__dict__)  # our own printed program
        return module

    def __call__(self, arrays: dict) -> dict[str, np.ndarray] | None:
        if importlib.util.find_spec("torch") is None:
            return None
        names = python_names(self.program)
        grads = self.load().grad(**{names[k]: np.asarray(a, dtype=float) for k, a in arrays.items()})
        return {k: grads[names[k]].numpy() for k in arrays}


def autograd_gradients(program: Program, arrays: dict) -> dict[str, np.ndarray] | None:
    """dL/d(argument) for every argument by torch's autograd of the printed program, or None when torch
    is not installed."""
    return PrintedProgram(program)(arrays)
