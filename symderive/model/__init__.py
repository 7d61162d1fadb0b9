"""Models: programs of named assignments over shape-generic symbols, with states and a scalar loss.

The public way to write one is :class:`Model` (``symderive.Model``); the spellings of its expressions
are here too (``times(c, v)``: a scalar times a vector). :class:`~symderive.model.program.Program` is what a
Model builds.
"""
from symderive.model.builder import (
    Model,
    apply,
    attention_scale,
    binary_cross_entropy,
    cross_entropy,
    divide,
    exp,
    hadamard,
    layer_norm,
    log,
    log_softmax,
    normalize_rows,
    ones_like,
    power,
    relu,
    repeat_rows,
    row_mean,
    row_sum,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    squared_norm,
    sum_entries,
    tanh,
)
from symderive.model.program import Assign, Program
from symderive.model.scalars import times
from symderive.ops.nodes import T, TimeVar, t

__all__ = ["Model", "Program", "Assign", "apply", "tanh", "sigmoid", "relu", "softplus", "exp", "log", "sqrt",
           "hadamard", "power", "divide", "squared_norm", "sum_entries", "ones_like", "softmax", "log_softmax",
           "cross_entropy", "binary_cross_entropy", "times", "TimeVar", "t", "T", "layer_norm", "normalize_rows",
           "attention_scale", "repeat_rows", "row_sum", "row_mean"]
