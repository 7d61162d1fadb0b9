"""An external reference for any index-level model: PyTorch's autograd of a program printed from it.

The program says what the index equations say, one line per term, and nothing of the derivation (no
Kronecker delta, no derived formula, no dilation, no strided view of the exported NumPy module) takes part:

    c, i, j, p, q = grid(C, N_1, N_2, K, K)
    Y = torch.einsum('cijpq,cijpq->cij', read(W, c, p, q), read(X, c, 2*i + p - 1, 2*j + q - 1))

``grid`` gives each index variable as an ``arange`` along its own axis; ``read(A, *index)`` gathers
``A[index]`` with those index tensors (advanced indexing, zero where an index falls outside ``A``: the
zero padding), and ``torch.einsum`` sums the product over the summed variables (its operands broadcast
along the axes of the variables they do not read). An elementwise function prints through the torch
equivalent it registers, max pooling as ``torch.amax`` over the window axes, softmax cross-entropy as
``torch.logsumexp``. torch differentiates the printed loss itself (the gradient of a gather is a
scatter-add); the program is source a person can read (``PrintedIndexProgram(...).source``).
"""
from __future__ import annotations

import importlib.util
import string
import types
from dataclasses import dataclass
from functools import cached_property, singledispatch

import numpy as np
import sympy as sp

from symderive.index.codegen import size_code
from symderive.index.program import Contract, IndexProgram, Pointwise, SoftmaxCrossEntropy, Term, WindowMax
from symderive.verify.torch_spelling import torch_spelling

HELPERS = '''

def grid(*sizes):
    """One int64 index tensor per size, arange(size) along its own axis of len(sizes) axes."""
    axes = len(sizes)
    return tuple(torch.arange(n).reshape([n if k == axis else 1 for k in range(axes)])
                 for axis, n in enumerate(sizes))


def read(array, *index):
    """array[index] for index tensors that broadcast together; 0 where an index is outside the array."""
    index = torch.broadcast_tensors(*index)
    inside = torch.ones(index[0].shape, dtype=torch.bool)
    for k, n in zip(index, array.shape):
        inside = inside & (k >= 0) & (k < n)
    clamped = tuple(k.clamp(0, n - 1) for k, n in zip(index, array.shape))
    return torch.where(inside, array[clamped], torch.zeros((), dtype=array.dtype))
'''

GRAD = '''

def grad(options, **arrays):
    """dL/d(argument) for every argument of ARGUMENTS, by torch.autograd.grad of loss, in float64."""
    leaves = {name: torch.tensor(arrays[name], dtype=torch.float64, requires_grad=True) for name in ARGUMENTS}
    gradients = torch.autograd.grad(loss(**leaves, **options), tuple(leaves.values()), materialize_grads=True)
    return dict(zip(ARGUMENTS, gradients))
'''


class Letters:
    """One einsum letter per index variable of a term: its own name when that is one free letter."""

    def __init__(self, variables):
        self.map = {}
        for v in variables:
            own = v.name if len(v.name) == 1 and v.name.isalpha() else ""
            taken = set(self.map.values())
            self.map[v] = own if own and own not in taken else next(c for c in string.ascii_letters if c not in taken)

    def __call__(self, variables) -> str:
        return "".join(self.map[v] for v in variables)


def index_code(e) -> str:
    """An index expression as Python (``2*i + p - 1``)."""
    return size_code(sp.expand(e))


def term_lines(out_index, out_dims, term: Term) -> tuple[list[str], str]:
    """The grid line of a term and its value: an einsum of the factors' reads over the term's variables."""
    variables = list(out_index) + [v for v, _ in term.sums]
    sizes = [size_code(n) for n in out_dims] + [size_code(n) for _, n in term.sums]
    letters = Letters(variables)
    reads = [f"read({f.tensor.name}, {', '.join(index_code(i) for i in f.index)})" if f.index else f.tensor.name
             for f in term.factors]
    names = ", ".join(v.name for v in variables)
    grid = [f"{names}{',' if len(variables) == 1 else ''} = grid({', '.join(sizes)})"] if variables else []
    full = letters(variables)
    if not reads:
        value = "torch.ones((), dtype=torch.float64)"
    else:
        spec = ",".join(full for _ in reads) + "->" + letters(out_index)
        value = f"torch.einsum({spec!r}, {', '.join(reads)})"
    coeff = sp.sympify(term.coeff)
    return grid, value if coeff == 1 else f"({size_code(coeff)}) * {value}"


@singledispatch
def op_lines(op) -> list[str]:
    raise TypeError(f"the torch program cannot print a {type(op).__name__}")


@op_lines.register
def _(op: Contract) -> list[str]:
    """One term at a time (each with its own grid), broadcast to the output's shape when no term reads
    every output index."""
    lines = []
    for k, term in enumerate(op.terms):
        grid, value = term_lines(op.index, op.out.dims, term)
        lines += grid + [f"{op.out.name} = {op.out.name + ' + ' if k else ''}{value}"]
    if not any(set(op.index) <= {v for f in t.factors for v in f.variables} for t in op.terms):
        shape = ", ".join(size_code(n) for n in op.out.dims) + ("," if len(op.out.dims) == 1 else "")
        lines.append(f"{op.out.name} = torch.broadcast_to({op.out.name}, ({shape}))")
    return lines


@op_lines.register
def _(op: Pointwise) -> list[str]:
    return [f"{op.out.name} = {torch_spelling(op.fname).format(op.arg.name)}"]


@op_lines.register
def _(op: WindowMax) -> list[str]:
    variables = list(op.index) + [v for v, _ in op.window]
    sizes = [size_code(n) for n in op.out.dims] + [size_code(n) for _, n in op.window]
    window_axes = tuple(range(len(op.index), len(variables)))
    read = f"read({op.read.tensor.name}, {', '.join(index_code(i) for i in op.read.index)})"
    return [f"{', '.join(v.name for v in variables)} = grid({', '.join(sizes)})",
            f"{op.out.name} = torch.amax(torch.broadcast_to({read}, ({', '.join(sizes)},)), dim={window_axes})"]


@op_lines.register
def _(op: SoftmaxCrossEntropy) -> list[str]:
    z, y = op.logits.name, op.target.name
    return [f"{op.out.name} = torch.logsumexp({z}, 0) - torch.dot({y}, {z})"]


@dataclass(frozen=True, eq=False)
class PrintedIndexProgram:
    """The torch reference of an index model: ``PrintedIndexProgram(program, shapes, derived, options)(arrays,
    options, tag)`` is dL/d(argument) by torch autograd of the printed program (None without torch).
    ``shapes``, ``derived`` and ``options`` are the exported module's: argument -> size names, the derived
    sizes (:class:`~symderive.index.codegen.DerivedSize`) and the keyword options."""

    program: IndexProgram
    shapes: dict
    derived: tuple = ()
    options: tuple = ()
    description = "torch autograd of the index program printed as einsum over gathered windows"

    @cached_property
    def source(self) -> str:
        """The printed program: ``ARGUMENTS``, ``grid``, ``read``, ``loss(...)`` and ``grad(options, **arrays)``."""
        args = [a.name for a in self.program.arguments]
        keywords = [s.name for o in self.options for s in o.symbols]
        body = [*self.size_lines(), *(line for op in self.program.ops for line in op_lines(op)),
                f"return {self.program.loss.name}"]
        return "\n".join([
            f'"""The index model {self.program.name} as a PyTorch program, printed by symderive from its equations.',
            "",
            "loss(...) computes the model's loss as written, every array zero outside its range;",
            'grad(options, **arrays) is torch.autograd.grad of the loss with respect to every argument, in float64."""',
            "import torch",
            "",
            f"ARGUMENTS = {tuple(args)!r}",
            HELPERS,
            "",
            f"def loss({', '.join(args + keywords)}):",
            f'    """The loss of the index model {self.program.name}."""',
            *(f"    {line}" for line in body),
            GRAD.rstrip(),
            "",
        ])

    def size_lines(self) -> list[str]:
        """``C = X.shape[0]`` for every size read off an argument, then the derived sizes."""
        lines, seen = [], {str(s) for o in self.options for s in o.symbols}
        derived = {str(d.symbol) for d in self.derived}
        for name, dims in self.shapes.items():
            for axis, size in enumerate(dims):
                if size not in seen and size not in derived:
                    lines.append(f"{size} = {name}.shape[{axis}]")
                    seen.add(size)
        return lines + [f"{d.symbol} = {size_code(d.expr)}" for d in self.derived]

    @cached_property
    def module(self) -> types.ModuleType:
        """The printed program as a module (it imports torch)."""
        module = types.ModuleType(f"symderive_torch_{self.program.name}")
        exec(compile(self.source, module.__name__, "exec"), module.__dict__)  # our own printed program
        return module

    def __call__(self, arrays: dict, options: dict, tag: str = "") -> dict[str, np.ndarray] | None:
        if importlib.util.find_spec("torch") is None:
            return None
        sizes = {}
        for o in self.options:
            value = options[o.keyword]
            values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * len(o.symbols)
            sizes.update({s.name: int(v) for s, v in zip(o.symbols, values)})
        grads = self.module.grad(sizes, **{k: np.asarray(a, dtype=float) for k, a in arrays.items()})
        return {k: g.numpy() for k, g in grads.items() if k in {t.name for t in self.program.differentiated}}
