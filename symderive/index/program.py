"""Index-level models (convolution, pooling, dense layers on feature maps): tensors read at
*affine* indices, and the operations of a program over them, e.g. the 2-D convolution

    Y[o,i,j] = sum_c sum_p sum_q W[o,c,p,q] X[c, S_h i + D_h p - P_h, S_w j + D_w q - P_w] + b[o],

with one convention: every tensor is 0 outside its index range (that is what zero padding means).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace

import sympy as sp

from symderive.errors import ModelError
from symderive.ops.nodes import ACTIVATIONS


def index_symbols(names: str) -> tuple[sp.Symbol, ...]:
    return sp.symbols(names, integer=True, nonnegative=True, seq=True)


@dataclass(frozen=True)
class Tensor:
    """A named array of symbolic size; ``latex`` spells its name (default: the name)."""

    name: str
    dims: tuple
    latex: str = ""

    def __getitem__(self, index) -> Access:
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != len(self.dims):
            raise ModelError(f"{self.name} has {len(self.dims)} axes, read with {len(index)} indices")
        return Access(self, tuple(sp.sympify(i) for i in index))

    @property
    def tex(self) -> str:
        return self.latex or self.name


@dataclass(frozen=True)
class Access:
    """``tensor[index]``, each index an affine expression of index variables."""

    tensor: Tensor
    index: tuple

    def subs(self, mapping) -> Access:
        return Access(self.tensor, tuple(sp.expand(i.subs(mapping, simultaneous=True)) for i in self.index))

    @property
    def variables(self) -> set:
        return set().union(*(i.free_symbols for i in self.index))


@dataclass(frozen=True)
class Term:
    """``coeff * prod(factors) * prod(delta(a, e) for a, e in deltas)``, summed over ``sums``
    (pairs ``(variable, n)``: the variable runs over 0, ..., n - 1)."""

    factors: tuple
    coeff: sp.Expr = sp.S.One
    sums: tuple = ()
    deltas: tuple = ()

    def subs(self, mapping) -> Term:
        return replace(self, factors=tuple(f.subs(mapping) for f in self.factors),
                       deltas=tuple((sp.expand(a.subs(mapping)), sp.expand(e.subs(mapping))) for a, e in self.deltas))

    @property
    def summed(self) -> dict:
        return dict(self.sums)


# ---------------------------------------------------------------------------------------------
# Operations.


@dataclass(frozen=True)
class Contract:
    """``out[index] = sum of terms`` (a convolution, a dense layer, average pooling, a loss)."""

    out: Tensor
    index: tuple
    terms: tuple

    @property
    def reads(self) -> list[Tensor]:
        return unique(f.tensor for term in self.terms for f in term.factors)


@dataclass(frozen=True)
class Pointwise:
    """``out[index] = f(arg[index])`` for an activation f of :data:`symderive.expr.ACTIVATIONS`."""

    out: Tensor
    arg: Tensor
    fname: str
    index: tuple

    def __post_init__(self):
        if self.fname not in ACTIVATIONS:
            raise ModelError(f"unknown activation {self.fname!r}; known: {', '.join(sorted(ACTIVATIONS))}")
        if not self.index:
            raise ModelError(f"Pointwise({self.out.name}, {self.arg.name}, {self.fname!r}): a function applies to "
                             "entries; give the index it runs over (an index-level model has no scalar functions)")

    @property
    def reads(self) -> list[Tensor]:
        return [self.arg]


@dataclass(frozen=True)
class WindowMax:
    """``out[index] = max over the window variables of read`` (max pooling).

    Written as ``out[index] = sum_window mask[index, window] read`` with the one-hot ``mask`` of the
    arg-max: the maximum is piecewise linear, so its derivative is the mask held constant. Ties go
    to the first maximum in row-major order of the window (as PyTorch's CPU kernel does)."""

    out: Tensor
    index: tuple
    window: tuple
    read: Access
    mask: Tensor

    def as_contract(self) -> Contract:
        window_vars = tuple(v for v, _ in self.window)
        return Contract(self.out, self.index,
                        (Term((self.mask[self.index + window_vars], self.read), sums=self.window),))

    @property
    def reads(self) -> list[Tensor]:
        return [self.read.tensor]


@dataclass(frozen=True)
class SoftmaxCrossEntropy:
    """``p = softmax(z)``, ``out = -sum_k y_k log p_k`` for a one-hot target y."""

    out: Tensor
    logits: Tensor
    target: Tensor
    probs: Tensor
    index: sp.Symbol

    @property
    def reads(self) -> list[Tensor]:
        return [self.logits, self.target]


def unique(items) -> list:
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


@dataclass(frozen=True)
class IndexProgram:
    """Operations in order; ``arguments`` are the arrays a user passes (all differentiated unless
    listed in ``constants``; those in ``given``, the upstream gradient of an abstract loss, are differentiated
    but their gradient is left out of a document); ``sizes`` are the size symbols read off the arrays,
    ``options`` the integer settings (stride, padding, ...) and ``derived_sizes`` the sizes computed from both."""

    name: str
    ops: tuple
    arguments: tuple
    loss: Tensor
    options: tuple = ()
    derived_sizes: dict = field(default_factory=dict)
    constants: tuple = ()
    given: tuple = ()  # the upstream gradient given to an abstract loss L = \ell(Y): no section in a document

    @property
    def differentiated(self) -> list[Tensor]:
        return [a for a in self.arguments if a not in self.constants]

    def producer(self, tensor: Tensor):
        return next((op for op in self.ops if op.out == tensor), None)


def output_size(n_in, kernel, stride=1, padding=0, dilation=1):
    """``floor((n_in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1``: the number of positions
    i >= 0 with ``stride i + dilation (kernel - 1) - padding <= n_in - 1 + padding`` (the last tap of
    the window still inside the padded input)."""
    return sp.floor((n_in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


def over_one_denominator(e):
    """``floor((H - K)/2) + 2`` rather than SymPy's ``floor(H/2 - K/2) + 2`` (for people to read)."""
    return sp.sympify(e).replace(sp.floor, lambda x: sp.floor(sp.together(x), evaluate=False))


def map_sizes(obj, mapping: dict):
    """``obj`` (a program, an op, a term, a tensor, or a tuple of them) with every size ``xreplace``-d by
    ``mapping`` (e.g. ``{floor((H + 2 - K)/2) + 1: H_out, 3: K_1}``) where it stands for a size: the tensors'
    dimensions and the ranges of sums and windows. Index expressions and coefficients are left as they are
    (the 2 of ``X[2 i + p]`` is a stride, not a size)."""
    if isinstance(obj, Tensor):
        return replace(obj, dims=tuple(sp.sympify(d).xreplace(mapping) for d in obj.dims))
    if isinstance(obj, tuple):
        return tuple(map_sizes(x, mapping) for x in obj)
    if isinstance(obj, (Term, WindowMax)):
        ranges = "sums" if isinstance(obj, Term) else "window"
        mapped = tuple((v, sp.sympify(n).xreplace(mapping)) for v, n in getattr(obj, ranges))
        obj = replace(obj, **{ranges: mapped})
    if is_dataclass(obj) and not isinstance(obj, type):
        return replace(obj, **{f.name: map_sizes(getattr(obj, f.name), mapping) for f in fields(obj)
                               if f.init and f.name not in ("sums", "window")})
    return obj


def tensors_of(program: IndexProgram) -> list[Tensor]:
    """Every tensor of the program: arguments, values, masks, probabilities, the loss, in order of appearance."""
    found = []

    def walk(obj):
        if isinstance(obj, Tensor):
            found.append(obj)
        elif isinstance(obj, (tuple, list)):
            for x in obj:
                walk(x)
        elif is_dataclass(obj) and not isinstance(obj, type):
            for f in fields(obj):
                walk(getattr(obj, f.name))

    walk(program.arguments)
    walk(program.ops)
    return unique(found)
