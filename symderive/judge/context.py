r"""The reference interpreter's context for a claim: the point it is evaluated at, the values of its
index letters, and what the subject's names denote there.

Claims are evaluated by the engine's reference interpreter (``symderive.ops.registry.evaluate_node``,
the rules of ``symderive/ops`` for sums and products, :mod:`symderive.judge.evaluate` for the nodes
only a claim has); :class:`ClaimEvaluation` is the context those rules receive. Symbols take the
values of a forward run, a sequence outside the steps ``1..T`` is :data:`~symderive.judge.values.NOTHING`,
definitions (``\delta_t = ...``) are evaluated once per index value.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symderive.errors import ModelError, ShapeMismatchError, UnknownSymbolError
from symderive.judge.notation import written
from symderive.judge.point import Point
from symderive.judge.values import NOTHING, Misshaped, Value, data, real_number
from symderive.latex.names import base_name
from symderive.latex.parsed import is_plain_number
from symderive.matrix import evaluate as ev
from symderive.ops.nodes import T
from symderive.ops.registry import ACTIVATIONS, evaluate_node

#: the rule of a node type nothing registered
UNREGISTERED = evaluate_node.dispatch(object)
#: the most terms the sums and products of a claim may run over at one point, in all
MAX_TERMS = 2000


@dataclass(frozen=True)
class ClaimEvaluation(ev.Evaluation):
    """What a claim's nodes evaluate with: the ``point`` (its ``env`` and backend), the ``binding`` of
    index letters to integers, ``options`` (``ascending``: products read from the smallest index; ``row``:
    every value of the model and every derivative is the transpose of the column form's), and
    the ``memo`` of definitions already evaluated and the count of ``terms`` of sums and products
    (both shared by every binding)."""

    point: Point
    binding: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    memo: dict = field(default_factory=dict)
    terms: list = field(default_factory=lambda: [0])  # terms of sums and products evaluated so far

    @classmethod
    def of(cls, point: Point, options: dict | None = None) -> "ClaimEvaluation":
        """A fresh context at ``point`` (no letters bound, nothing memoised)."""
        return cls(point.env, None, point, {}, options or {}, {})

    def bound(self, binding: dict) -> "ClaimEvaluation":
        """The same context with the index letters bound as ``binding`` says."""
        return dataclasses.replace(self, binding=binding)

    @property
    def subject(self):
        return self.point.subject

    @property
    def symbolic(self) -> bool:
        return self.point.symbolic

    def __call__(self, expr) -> Value:
        """The value of ``expr``: a number as written (exactly, a float as the rational of its digits: 0.1 is
        1/10, 1e-300 stays 10^{-300}), any other node as its registration says; shapes that do not fit are
        named with the node that combines them."""
        if is_plain_number(expr):
            return Value(sp.nsimplify(expr, rational=True) if self.symbolic else real_number(expr))
        if evaluate_node.dispatch(type(expr)) is UNREGISTERED:
            raise ModelError(f"cannot evaluate {expr}")
        try:
            return evaluate_node(expr, self)
        except Misshaped as e:
            raise ShapeMismatchError(f"{e} in '{written(expr)}'") from None

    # -- index letters ------------------------------------------------------------------------
    def index_range(self, what: str, lo, hi) -> range:
        """The values ``lo..hi`` of a sum's or product's index, counted against :data:`MAX_TERMS`
        (``\\prod_{j=1}^{999999999999}`` would never finish)."""
        values = range(self.index(lo), self.index(hi) + 1)
        self.terms[0] += len(values)
        if self.terms[0] > MAX_TERMS:
            raise ModelError(f"the claim's sums and products run over more than {MAX_TERMS} terms "
                             f"({what} from {values.start} to {values.stop - 1})")
        return values

    def index(self, e) -> int:
        """The integer an index expression (``t - 1``, ``T``) denotes under the binding."""
        value = sp.sympify(e).xreplace({k: sp.Integer(v) for k, v in self.binding.items()})
        value = value.xreplace({T: sp.Integer(self.point.steps)})
        if not value.is_Integer:
            free = sorted(str(s) for s in value.free_symbols)
            raise UnknownSymbolError(free[0] if free else str(e), self.subject.known, "an index")
        return int(value)

    def letter(self, e: sp.Symbol) -> Value:
        """The value of an index letter used as a number (``t``, ``T``), or of a size or an option."""
        if e in self.binding:
            return Value(self.binding[e])
        if e == T:
            return Value(self.point.steps)
        constant = self.constant(e)
        if constant is not None:
            return constant
        raise UnknownSymbolError(e.name, self.subject.known, "an index")

    def constant(self, e) -> Value | None:
        r"""A size of the model (``d_k``, ``N``) at this point, or an option it reads (``\epsilon``), or None."""
        name = base_name(e) + "".join(f"_{i}" for i in getattr(e, "indices", ()))
        sizes = {str(size): n for size, n in self.point.sizes.items()}
        if name in sizes:
            return Value(sp.Integer(sizes[name]) if self.symbolic else float(sizes[name]))
        option = self.subject.options.get(name)
        return None if option is None else Value(evaluate_node(option, self))

    # -- symbols ------------------------------------------------------------------------------
    def symbol(self, e) -> Value:
        """The value of a symbol (``W_{hh}``) or of an indexed one (``h_{t-1}``, ``\\delta_t``)."""
        constant = self.constant(e)
        if constant is not None:
            return constant
        indices = [self.index(i) for i in e.indices] if isinstance(e, sp.Indexed) else []
        return self.named(self.subject.name_of(e), indices)

    def named(self, name: str, indices: list[int]) -> Value:
        s, p = self.subject, self.point
        if indices and name not in s.sequences and name not in s.where:
            label = f"{name}_{''.join(map(str, indices))}"
            label = s.labels.get(label, label)
            if label in s.known or label in s.argument_names:  # h_0: the initial state h0
                return self.symbol(sp.Symbol(label, commutative=False))
        if name in s.where:
            return self.defined(name, indices)
        if name == s.loss_name and not indices:
            return Value(p.loss())
        if name in s.sequences:
            return self.laid_out(self.sequence(name, indices))
        if name in p.env and not indices:
            return self.laid_out(Value(p.env[name]))
        raise UnknownSymbolError(name, s.known)

    def laid_out(self, v: Value) -> Value:
        """A value of the model (or a derivative) in the claim's layout: transposed in the row layout."""
        return v.T if self.options.get("row") else v

    def sequence(self, name: str, indices: list[int]) -> Value:
        """``name_s``: the initial state at s = 0, nothing outside 1..T."""
        if len(indices) != 1:
            raise ModelError(f"{name} is a sequence: write it with one time index ({name}_t)")
        step = indices[0]
        if step == 0 and name in self.subject.program.states:
            return Value(self.point.env[(name, 0)])
        if not 1 <= step <= self.point.steps:
            return NOTHING
        return Value(self.point.env[(name, step)])

    def defined(self, name: str, indices: list[int]) -> Value:
        """A definition given with the claim (``\\delta_t = ...``) at these index values."""
        variables, definition = self.subject.where[name]
        if len(variables) != len(indices):
            raise ModelError(f"{name} is defined with {len(variables)} index(es) but used with {len(indices)}")
        if variables and not all(1 <= k <= self.point.steps for k in indices):
            return NOTHING
        slot = (name, tuple(indices))
        if slot in self.memo and self.memo[slot] is None:
            at = f" at {', '.join(map(str, indices))}" if indices else ""
            raise ModelError(f"the definition of {name} refers to itself{at}, so it has no value")
        if slot not in self.memo:
            self.memo[slot] = None  # being evaluated: meeting it again is a circular definition
            try:
                self.memo[slot] = self.bound(dict(zip(variables, indices)))(definition)
            except BaseException:
                del self.memo[slot]
                raise
        return self.memo[slot]

    # -- elementwise functions ----------------------------------------------------------------
    def apply(self, fname: str, a: Value, primes: int = 0) -> Value:
        """``f(a)`` or ``f'(a)`` entry by entry (a scalar as a ``1 x 1`` matrix)."""
        if a is NOTHING:
            return NOTHING
        x = data(a)
        wrap = not a.is_array
        if wrap:
            x = sp.Matrix([[x]]) if self.symbolic else np.array([[float(x)]])
        if primes == 0:
            out = self.backend.apply(fname, x)
        elif primes == 1:
            out = self.slope(fname, x)
        else:
            raise ModelError(f"second derivatives ({fname}'') are not supported")
        return Value(out[0, 0] if wrap else out)

    def slope(self, fname: str, a):
        """f'(a) as the engine writes it (through f: tanh' = 1 - tanh^2, sigma' = sigma (1 - sigma)),
        evaluated by the reference interpreter from the function's registered derivative."""
        z, ans = sp.MatrixSymbol("z", *a.shape), sp.MatrixSymbol("ans", *a.shape)
        env = ev.Env({"z": a, "ans": self.backend.apply(fname, a)}, {}, self.backend)
        return ev.evaluate(ACTIVATIONS[fname].derivative(ans, z), env)
