"""Models: programs of named assignments over shape-generic symbols, with states and a scalar loss.

The public way to write one is :class:`Model` (``symderive.Model``); the spellings of its expressions
are here too (``times(c, v)``: a scalar times a vector). :class:`~symderive.model.program.Program` is what a
Model builds.
"""
from symderive.model.builder import (
    Model,
    apply,
    exp,
    hadamard,
    log,
    ones_like,
    relu,
    sigmoid,
    softplus,
    squared_norm,
    tanh,
)
from symderive.model.program import Assign, Program
from symderive.model.scalars import times
from symderive.ops.nodes import T, TimeVar, t

__all__ = ["Model", "Program", "Assign", "apply", "tanh", "sigmoid", "relu", "softplus", "exp", "log", "hadamard",
           "squared_norm", "ones_like", "times", "TimeVar", "t", "T"]
