"""An external reference for any matrix-level model: PyTorch's autograd.

The model's equations are evaluated on float64 torch tensors by the reference interpreter
(:mod:`symderive.matrix.evaluate`) with :class:`TorchBackend`, each elementwise function through its
registered torch equivalent, and torch differentiates the loss itself. Nothing of the derivation (no
VJP rule, no derived formula, no generated code) takes part, so agreement is evidence from outside.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symderive.matrix import evaluate as ev
from symderive.model.program import Program
from symderive.ops.registry import ACTIVATIONS


@dataclass(frozen=True)
class TorchBackend(ev.NumpyBackend):
    """The interpreter's arithmetic on torch tensors (``torch`` is the imported module); products and
    powers are NumPy's spellings, which torch shares."""

    torch: object = None

    def apply(self, fname, a):
        return ACTIVATIONS[fname].torch(self.torch, a)

    def full(self, shape, value):
        return self.torch.full(shape, float(value), dtype=self.torch.float64)

    def diag(self, v):
        return self.torch.diag(v.reshape(-1))

    def total(self, a):
        return a.sum()

    def stack(self, parts):
        return self.torch.vstack(parts)

    def eye(self, n):
        return self.torch.eye(n, dtype=self.torch.float64)

    def array(self, value, rows, cols):
        return value.reshape(rows, cols)


def autograd_gradients(program: Program, arrays: dict) -> dict[str, np.ndarray] | None:
    """dL/d(argument) for every argument by torch's autograd, or None when torch is not installed."""
    try:
        import torch  # optional: the external reference is used where it is installed
    except ImportError:
        return None
    leaves = {k: torch.tensor(np.asarray(v, dtype=float), dtype=torch.float64, requires_grad=True)
              for k, v in arrays.items()}
    env = ev.bind(program, leaves, ev.sizes_of(program, arrays), TorchBackend(torch))
    ev.forward(program, env)
    ev.loss(program, env).backward()
    return {k: (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)) for k, t in leaves.items()}
