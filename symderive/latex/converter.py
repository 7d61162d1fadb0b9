"""Parsed model expressions -> the engine's matrix expressions (MatMul, HadamardProduct, Elementwise, ...)."""
from __future__ import annotations

import sympy as sp

from symderive.errors import ModelError, ShapeMismatchError
from symderive.latex.names import base_name, is_variable, time_offset
from symderive.latex.parsed import concat, hadamard, is_plain_number, norm, transpose
from symderive.latex.rewrites import ROW_SOFTMAX, entry_sum, is_size
from symderive.latex.words import activation_of
from symderive.model.builder import cross_entropy, softmax
from symderive.model.scalars import times
from symderive.ops.nodes import Concat, Elementwise, SquaredNorm, TimeVar, t
from symderive.ops.rows import scale_option
from symderive.ops.softmax import LogSoftmax, Softmax, SumEntries


def is_matrix(e) -> bool:
    return getattr(e, "is_Matrix", False)


class Converter:
    """Parsed expressions -> the engine's matrix expressions at the final sizes; ``reads`` records the time
    offsets each sequence is read at."""

    def __init__(self, dims, sequences, recurrent):
        self.dims, self.sequences, self.recurrent = dims, sequences, recurrent
        self.reads: dict = {}

    def leaf(self, name, offset):
        """The matrix symbol ``name``, or the sequence ``name`` at ``t + offset``."""
        shape = self.dims[name]
        if name in self.sequences:
            self.reads.setdefault(name, set()).add(offset)
            return TimeVar(name, t + offset, *shape)
        return sp.MatrixSymbol(name, *shape)

    def __call__(self, e):
        if is_plain_number(e):
            if not (e.is_extended_real and e.is_finite):
                raise ModelError("a number in a model equation is finite and real, not "
                                 + ("infinite or undefined (a division by zero?)" if not e.is_finite else str(e)))
            return e
        if is_size(e):  # d_k of \sqrt{d_k}: a number
            return e
        if isinstance(e, sp.Indexed):
            return self.sequence_leaf(e)
        if is_variable(e):
            return self.leaf(e.name, 0)
        if isinstance(e, sp.Add):
            return self.sum_of(e)
        if isinstance(e, sp.Mul):
            return product([self(a) for a in e.args], e)
        if isinstance(e, entry_sum):
            return sum_of_entries(self.matrix(e.args[0], e))
        if isinstance(e, hadamard):
            return self.hadamard_of(e)
        if isinstance(e, transpose):
            return sp.Transpose(self(e.args[0])).doit()
        if isinstance(e, sp.Pow):
            return self.power_of(e)
        if isinstance(e, concat):
            return Concat(*(self.matrix(a, e) for a in e.args))
        if isinstance(e, sp.Function) and type(e).__name__ == "diag":
            return sp.DiagMatrix(self.matrix(e.args[0], e))
        if isinstance(e, sp.Function) and type(e).__name__ in VECTOR_FUNCTIONS:
            return normalised(type(e).__name__, self.matrix(e.args[0], e))
        if isinstance(e, sp.Function) and type(e).__name__ == "CE":
            return cross_entropy_of([self.matrix(a, e) for a in e.args], e)
        if isinstance(e, sp.Function) and activation_of(type(e).__name__):
            return Elementwise(activation_of(type(e).__name__), self.matrix(e.args[0], e))
        raise ModelError(f"cannot use {e} in a model equation")

    def matrix(self, e, within):
        """The argument ``e`` of ``within`` (an activation, diag, a norm, a concatenation), which must be a
        vector or a matrix: ``\\sigma(0)`` is a number to write out."""
        value = self(e)
        if not is_matrix(value):
            raise ModelError(f"in a model equation, {within} needs a vector or a matrix, not {e}")
        return value

    def hadamard_of(self, e):
        """``a \\odot b``; a number among the factors multiplies the entrywise product of the others."""
        factors = [self(a) for a in e.args]
        matrices = [f for f in factors if is_matrix(f)]
        scale = sp.Mul(*(f for f in factors if not is_matrix(f)))
        scalars = [m for m in matrices if m.shape == (1, 1)]
        matrices = [m for m in matrices if m.shape != (1, 1)] or scalars[:1]
        scalars = [m for m in scalars if m is not matrices[0]] if scalars and matrices[0] is scalars[0] else scalars
        if not matrices:
            return scale
        value = sp.HadamardProduct(*matrices).doit() if len(matrices) > 1 else matrices[0]
        return scale * product([value, *scalars], e)

    def sequence_leaf(self, e):
        """``h_{t+k}``: the sequence at a time step of the generic t."""
        k = time_offset(e.indices[0]) if len(e.indices) == 1 else None
        if k is None:
            raise ModelError(f"{e}: a model equation indexes sequences by t (h_t, h_{{t-1}})")
        return self.leaf(base_name(e), k)

    def sum_of(self, e):
        """``a + b``; a scalar term added to matrices is that scalar times a matrix of ones."""
        terms = [self(a) for a in e.args]
        shape = max((a.shape for a in terms if is_matrix(a)), key=lambda s: s != (1, 1), default=None)
        terms = [broadcast(a, shape, e) for a in terms] if shape is not None else terms
        return sp.MatAdd(*terms).doit() if shape is not None else sp.Add(*terms)

    def power_of(self, e):
        """``\\|v\\|^2`` is a squared norm, ``1/\\sqrt{d_k}`` the option ``scale``; a matrix's power is elementwise."""
        if not (is_plain_number(e.exp) and e.exp.is_extended_real and e.exp.is_finite):
            raise ModelError(f"a power in a model equation is a real number: {e}")
        if isinstance(e.base, norm) and e.exp == 2:
            return SquaredNorm(self.matrix(e.base.args[0], e))
        if is_size(e.base) and e.exp == -sp.S.Half:  # 1/\sqrt{d_k}: the scale of attention's scores, as built in
            return scale_option(e.base)
        base = self(e.base)
        return sp.HadamardPower(base, e.exp) if is_matrix(base) else base ** e.exp

    def loss(self, body):
        """The scalar loss: any expression whose value is a scalar (a 1 x 1 matrix)."""
        value = self(body)
        if is_matrix(value) and value.shape != (1, 1):
            raise ModelError(f"the loss must be a scalar, not a {value.shape[0]} x {value.shape[1]} matrix "
                             r"(\|a - y\|^2, y^\top v, a sum over t of scalars, ...)")
        return value


def product(factors: list, within):
    """The product of ``factors``; 1 x 1 factors are scalars (:func:`symderive.model.scalars.times`)."""
    matrices = [f for f in factors if is_matrix(f)]
    if not any(f.shape == (1, 1) for f in matrices) or len(matrices) < 2:
        return sp.MatMul(*factors).doit() if matrices else sp.Mul(*factors)
    try:
        return times(*factors)
    except ShapeMismatchError as e:
        raise ModelError(f"in {within}: {e}") from None


def broadcast(term, shape, within):
    """A term of a sum of matrices of ``shape``: a number times ones, a scalar (1 x 1) times a vector of ones."""
    if not is_matrix(term):
        return term * sp.OneMatrix(*shape)
    if term.shape == (1, 1) and shape != (1, 1):
        return product([term, sp.OneMatrix(*shape)], within)
    return term


def sum_of_entries(v):
    r"""``\sum_k v_k``: the scalar ``1^\top v`` (a 1 x 1 value is its own sum)."""
    return v if v.shape == (1, 1) else SumEntries(v)


def cross_entropy_of(args, within):
    r"""``\operatorname{CE}(o, y)``: the cross-entropy ``-y^\top \log \operatorname{softmax}(o)`` of logits o."""
    if len(args) != 2:
        raise ModelError(rf"the cross-entropy is written \operatorname{{CE}}(o, y) with the logits first: {within}")
    return cross_entropy(*args)


def normalised(name: str, v):
    r"""``\operatorname{softmax}(v)`` of a vector; of a matrix (rows are tokens, as in attention) or written
    ``\operatorname{softmax}_{\text{row}}(S)``, the softmax of each row. Log-softmax takes a vector."""
    if name == ROW_SOFTMAX or (name == "softmax" and 1 not in v.shape):
        return softmax(v, rows=True)
    return VECTOR_FUNCTIONS[name](v)


#: functions of vectors, by the name the reader gives them
VECTOR_FUNCTIONS = {"softmax": Softmax, "log_softmax": LogSoftmax, ROW_SOFTMAX: Softmax}
