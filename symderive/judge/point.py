"""One run of the subject at explicit sizes: its forward values, the derived gradients, and adjoints
seeded anywhere (the derivatives a claim's left-hand side, or its right-hand side, asks for).

Everything is evaluated by the reference interpreter (:mod:`symderive.matrix.evaluate`) from the
derived backward program, in float64 at random arguments or over explicit matrices of symbols.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from symderive.errors import ModelError
from symderive.judge.notation import layered_latex
from symderive.judge.subject import Subject
from symderive.judge.values import fmt
from symderive.latex.builder import HIDDEN_TARGET
from symderive.matrix import evaluate as ev
from symderive.matrix.derive import Backward
from symderive.model.program import arguments, initial_arguments, key
from symderive.ops.heads import HeadProduct
from symderive.ops.nodes import T
from symderive.ops.softmax import LogSoftmax
from symderive.verify.matrix_checks import random_arguments
from symderive.verify.symbolic import instantiate


def size_cases(subject: Subject) -> list[dict]:
    """Two cases with every size distinct (2, 3, 4, ... and 3, 4, 5, ...), T = 3 and 4. A number of attention
    heads takes the smallest values and the width it splits is a multiple of it (``heads=2, D=2*3``): the heads
    must divide the width."""
    widths = head_widths(subject.program)
    dims = sorted(subject.dims(), key=lambda d: d not in widths.values())
    cases = []
    for first, steps in ((2, 3), (3, 4)):
        sizes = {d: first + i for i, d in enumerate(dims)}
        sizes.update({width: sizes[width] * sizes[count] for width, count in widths.items()})
        if subject.program.recurrent:
            sizes[T] = steps
        cases.append(sizes)
    return cases


def head_widths(program) -> dict:
    """``{D: heads}``: each width (a size) that a number of heads (a size) splits into blocks of columns."""
    products = set().union(*(a.expr.atoms(HeadProduct) for a in program.assignments))
    pairs = {(e.b.shape[1], e.count) for e in products}
    return {w: c for w, c in pairs if isinstance(w, sp.Symbol) and isinstance(c, sp.Symbol)}


def case_text(sizes: dict, subject: Subject | None = None) -> str:
    """``n=2, d=3, T=3``; "the declared sizes" when every size is declared as a number. Sizes the model
    did not name (``n_W_X_r``, inferred for a user's model) are given as the shapes of its arguments
    (``W_X: 5 x 2``)."""
    if subject is not None and any("_" in str(k) for k in sizes):
        return argument_shapes(subject, sizes)
    named = sorted(((str(k), v) for k, v in sizes.items()), key=lambda kv: (kv[0] == "T", kv[0]))
    return ", ".join(f"{k}={v}" for k, v in named) or "the declared sizes"


def argument_shapes(subject: Subject, sizes: dict) -> str:
    """``W_X: 5 x 2, X_t: 3 x 5, T=3``: the shape of every argument at these sizes, in the model's names."""
    parts = []
    for v in arguments(subject.program):
        if key(v) == HIDDEN_TARGET:  # the stand-in target of an abstract loss: not the user's
            continue
        name = subject.reverse_labels.get(key(v), key(v))
        layered = layered_latex(name)
        name = (layered[1:-1] if layered else name) + ("_t" if key(v) in subject.sequences else "")
        parts.append(f"{name}: {fmt(tuple(int(sp.sympify(d).xreplace(sizes)) for d in v.shape))}")
    shaped = set().union(*(sp.sympify(d).free_symbols for v in arguments(subject.program) for d in v.shape))
    alone = [f"{k}={v}" for k, v in sizes.items() if k not in shaped and str(k) != "T"]  # d_k of \sqrt{d_k}
    steps = [f"T={v}" for k, v in sizes.items() if str(k) == "T"]
    return ", ".join(parts + alone + steps)


def cross_entropy_targets(program) -> list[str]:
    r"""The data that multiply a log-softmax in the loss (the ``y`` of ``-y^\top \log\operatorname{softmax}(o)``)."""
    inside = [e for e in sp.preorder_traversal(program.loss) if isinstance(e, LogSoftmax)]
    shapes = {tuple(e.shape) for e in inside} | {tuple(reversed(e.shape)) for e in inside}
    return [key(v) for v in program.inputs if tuple(v.shape) in shapes and v in program.loss.atoms(type(v))]


def probabilities(values):
    """Each vector of ``values`` (the last axis) made a probability vector: positive entries that sum to 1."""
    positive = np.abs(values) + 0.1
    return positive / positive.sum(axis=-1, keepdims=True)


@dataclass
class Point:
    """A forward and backward run of the subject at one size case (NumPy or explicit SymPy)."""

    subject: Subject
    sizes: dict
    seed: int
    symbolic: bool = False
    backward: Backward | None = None
    truncation: ev.Truncation = ev.FULL
    zero_start: bool = False  # every initial state 0 (h_0 = 0), the other arguments as at the seed
    normalised: bool = False  # every cross-entropy target a probability vector (it sums to 1), as one-hot ones are

    def __post_init__(self):
        p = self.subject.program
        if self.symbolic:
            _, _, self.env, _, _ = instantiate(p, self.sizes, ev.FULL)
        else:
            arguments = random_arguments(p, self.sizes, self.seed)
            if self.zero_start:
                arguments.update({i.name: 0 * arguments[i.name] for i in initial_arguments(p)})
            if self.normalised:
                arguments.update({name: probabilities(arguments[name]) for name in cross_entropy_targets(p)})
            self.env = ev.bind(p, arguments, self.sizes, ev.NUMPY)
            ev.forward(p, self.env)
        self.grads = ev.backward(self.derived, self.env, self.truncation)
        self.steps = self.sizes.get(T, 1)

    @property
    def backend(self):
        return self.env.backend

    @property
    def derived(self) -> Backward:
        """The backward program this point runs (the subject's, or a variant's)."""
        return self.backward or self.subject.backward

    def variant(self, backward=None, truncation=None, zero_start=None, normalised=None) -> "Point":
        return Point(self.subject, self.sizes, self.seed, self.symbolic, backward or self.backward,
                     truncation or self.truncation, self.zero_start if zero_start is None else zero_start,
                     self.normalised if normalised is None else normalised)

    def zero(self, adjoint):
        return ev.evaluate(sp.ZeroMatrix(*adjoint.shape), self.env)

    def loss(self):
        return ev.loss(self.subject.program, self.env)

    def adjoint_env(self, origin: int | None, var: str | None = None, seed=None) -> ev.Env:
        """Adjoints of one step's loss (``origin``), or of ``var`` at ``origin`` seeded with ``seed``."""
        env = ev.Env(dict(self.env), self.sizes, self.backend)
        recurrent = self.subject.program.recurrent
        if recurrent:
            for a in self.derived.steps:
                for r in range(1, self.steps + 1):
                    env[(a.adjoint.name, r)] = self.zero(a.adjoint)
        for r in range(origin, 0, -1) if recurrent else [None]:
            for a in self.derived.steps:
                slot = (a.adjoint.name, r) if recurrent else a.adjoint.name
                if var is not None and a.var == var and r == origin:
                    env[slot] = seed
                    continue
                terms = [term for term in a.terms if (term.source != "loss" or (var is None and r == origin))
                         and (term.shift == 0 or (recurrent and r < origin))]
                env[slot] = ev.term_sum(terms, env, r, a.adjoint)
        return env

    def gradient_in(self, env, wrt):
        """The adjoint of ``wrt`` (a name, or (name, step)) in an adjoint environment."""
        p = self.subject.program
        name, step = wrt if isinstance(wrt, tuple) else (wrt, None)
        if name in p.defined:
            adj = self.derived.adjoint_of.get(name)
            if adj is None:
                return self.zero(p.defined[name].target)
            return env[(adj.adjoint.name, step)] if step is not None else env[adj.adjoint.name]
        grads = {a.var: a for a in self.derived.grads}
        if name in grads:
            value = ev.argument_gradient(grads[name], env)
            return value[step - 1] if isinstance(value, list) else value
        raise ModelError(f"cannot differentiate with respect to {name}")
