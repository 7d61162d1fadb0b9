"""The registries every op fills once, where it is defined, and the generic functions that dispatch on them.

* :data:`ACTIVATIONS` -- one :class:`Activation` per elementwise function ``f`` (``deffunction``);
* :data:`VJP_RULES` -- the vector-Jacobian rule of each node type (``defvjp``, as autograd's table);
* :func:`row_form` -- each node type's transpose into the row-vector convention (``row_form.register``);
* :func:`evaluate_node` -- each node type's reference evaluation (``evaluate_node.register``).

Nothing here knows a particular op: adding one is a registration next to its definition
(``symderive/ops/functions.py`` for elementwise functions, ``nodes.py`` and ``linear.py`` for node types).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import Callable

import sympy as sp

from symderive.errors import OptionError

# ---------------------------------------------------------------------------------------------
# Elementwise functions.


@dataclass(frozen=True)
class Activation:
    """Everything about one elementwise function ``f``, registered once with :func:`deffunction`.

    ``scalar`` is the SymPy function (its ``fdiff`` states f'); ``derivative(ans, z)`` is f'(z) as a
    matrix expression, written through the output ``ans = f(z)`` where that reads better (``1 - h ⊙ h``
    for tanh); ``rule`` states f' in LaTeX; ``numpy`` is the exported code (a format string of the
    argument); ``reference`` the NumPy function of the reference interpreter (written independently of
    ``numpy``); ``latex`` the name it prints as (a spelling ending in ``{}`` takes the argument inside
    the braces: ``\\sqrt{}`` prints ``\\sqrt{z}``); ``words`` the LaTeX words that read as it (``\\sigma``,
    ``\\operatorname{ReLU}``: ``sigma``, ``ReLU``); ``torch(torch, x)`` its PyTorch equivalent (for the
    external reference; the torch module is passed in, so nothing imports torch before it is needed);
    ``kink`` the value f' takes where f is not differentiable."""

    name: str
    scalar: type
    derivative: Callable
    rule: str
    numpy: str
    reference: Callable
    latex: str
    words: tuple[str, ...]
    torch: str
    kink: str = ""


ACTIVATIONS: dict[str, Activation] = {}


def deffunction(name: str, **facts) -> Activation:
    """Register the elementwise function ``name`` (see :class:`Activation` for the facts)."""
    if name in ACTIVATIONS:
        raise ValueError(f"the elementwise function {name!r} is registered already")
    ACTIVATIONS[name] = Activation(name, **facts)
    return ACTIVATIONS[name]


def function_named(word: str) -> Activation | None:
    """The function a LaTeX word reads as (``sigma`` -> sigmoid), or None."""
    return next((f for f in ACTIVATIONS.values() if word in f.words), None)


# ---------------------------------------------------------------------------------------------
# Node types: vector-Jacobian rules.


@dataclass(frozen=True)
class Rule:
    """``shares(node, g, ans) -> [(argument, share)]`` and the rule stated in LaTeX (``row``: stated in the
    row convention, where it reads differently)."""

    shares: Callable
    statement: str
    row: str = ""


VJP_RULES: dict[type, Rule] = {}


def defvjp(op: type, statement: str, row: str = ""):
    """Register the vector-Jacobian rule of ``op`` (used as a decorator on its share function):
    for ``y = op(a, b, ...)`` and ``ȳ = dL/dy`` the function returns each argument's share
    ``ā = (dy/da)^T ȳ``; ``statement`` (and ``row``, in the row convention) say it in LaTeX."""

    def register(shares):
        VJP_RULES[op] = Rule(shares, statement, row)
        return shares

    return register


# ---------------------------------------------------------------------------------------------
# Node types: the row-vector convention.


@singledispatch
def row_form(e):
    r"""The expression ``R(e) = e^\top`` written in the row-vector convention.

    Every model value ``S`` (a column vector, or a matrix acting on column vectors) becomes the
    row-convention value ``S' = S^\top`` of the same name (``x_t \in \mathbb{R}^{1 \times d}``,
    ``W_{xh} \in \mathbb{R}^{d \times n}``), and the transpose is pushed to the leaves:
    ``R(A B) = R(B) R(A)``, ``R(A + B) = R(A) + R(B)``, ``R(A^\top) = R(A)^\top``,
    ``R(a \odot b) = R(a) \odot R(b)``, ``R(f(z)) = f(R(z))``, ``R(\operatorname{diag} v) =
    \operatorname{diag} R(v)``; scalars (a loss, a norm) are their own transpose. So
    ``W_{hh} h_{t-1} + W_{xh} x_t`` becomes ``h_{t-1} W_{hh} + x_t W_{xh}``, a gradient
    ``\bar z\, x^\top`` becomes ``x^\top \bar z`` (the gradient with respect to the row-convention
    weight), and a Jacobian ``J`` becomes ``J^\top`` (the denominator layout, in which
    ``dh_t = dh_{t-1} J^\top``). Each node type registers its own rule next to its definition."""
    if not getattr(e, "is_Matrix", False):
        return e  # a scalar: its own transpose
    raise OptionError(f"the row layout cannot write {type(e).__name__} nodes; use --layout column")


# ---------------------------------------------------------------------------------------------
# Node types: shapes.


@singledispatch
def shape_conflict(e) -> str | None:
    """Why the sizes of ``e``'s operands do not fit (``"cannot add n x 1 and d x 1"``), or None.

    SymPy accepts ``W x`` for ``W`` of n x n and ``x`` of d x 1 (n and d might be equal); a model's
    sizes are distinct names, so they must match as written. Each node type registers its own rule."""
    return None


def is_row_vector(shape) -> bool:
    """A 1 x n value (n not 1): the row convention."""
    return shape[0] == 1 and shape[1] != 1


def shape_text(shape) -> str:
    return " x ".join(str(s) for s in shape)


def same_size(a, b) -> bool:
    return sp.expand(sp.sympify(a) - sp.sympify(b)) == 0


# ---------------------------------------------------------------------------------------------
# Node types: reference evaluation.


@singledispatch
def evaluate_node(e, ev):
    """The value of ``e``; ``ev`` is the interpreter's context (``symderive.matrix.evaluate.Evaluation``:
    ``ev(child)``, ``ev.at(child, step)``, ``ev.size(expr)``, ``ev.backend``, ``ev.env``, ``ev.step``).
    Numbers evaluate to themselves; each node type registers its evaluation next to its definition."""
    if getattr(e, "is_number", False):
        return ev.backend.scalar(e)
    raise TypeError(f"cannot evaluate {type(e).__name__}: {e}")
