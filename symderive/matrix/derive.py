"""Reverse mode over a model program, driven by one table of vector-Jacobian rules keyed by op
(``symderive.ops.registry.VJP_RULES``; each rule is registered next to its op in ``symderive/ops``).

For an op ``y = f(a, b, ...)`` with upstream adjoint ``ȳ = dL/dy``, a rule returns each argument's
share ``ā = (dy/da)^T ȳ``. Walking the program backwards and summing the shares gives every adjoint.

Time: a variable read as ``v_{t-1}`` in step ``t`` receives its share in step ``t+1``, so the share is
shifted ``t -> t+1`` (and is absent at ``t = T``); a parameter read in every step gets
``sum_{t=1}^{T}`` of its shares; the initial state ``h_0`` gets the shift-1 shares evaluated at t=0.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul

from symderive.errors import ModelError
from symderive.model.program import Program, is_fixed, key
from symderive.model.scalars import is_scalar
from symderive.ops.nodes import Elementwise, TimeSum, TimeVar, hadamard, t
from symderive.ops.registry import ACTIVATIONS, VJP_RULES, is_row_vector
from symderive.ops.softmax import softmax_names

CONSTANTS = (sp.OneMatrix, sp.ZeroMatrix, sp.Identity)


def rule_name(node) -> str:
    """The rule that justifies a share: the activation's own for Elementwise, the scalar rule for a
    product or square of scalars, else the op's."""
    if isinstance(node, Elementwise):
        return f"act:{node.fname}"
    name = type(node).__name__
    operands = [a for a in node.args if getattr(a, "is_Matrix", False)]
    if name in SCALAR_RULES and operands and all(map(is_scalar, operands)):
        return SCALAR_RULES[name]
    return name


ROW_STATEMENTS = {"MatMul": r"y = x A \;\Rightarrow\; \bar A = x^\top \bar y,\ \bar x = \bar y\, A^\top"}
SCALAR_RULES = {"MatMul": "scalar:product", "HadamardProduct": "scalar:product", "SquaredNorm": "scalar:square"}
SCALAR_STATEMENTS = {"scalar:product": r"y = a b \;\Rightarrow\; \bar a = \bar y\, b,\ \bar b = \bar y\, a",
                     "scalar:square": r"y = v^2 \;\Rightarrow\; \bar v = 2\,\bar y\, v"}


def rule_statement(name: str, layout: str = "column") -> str:
    """The rule in LaTeX; in the row layout (``y = x A`` for row vectors) where it differs."""
    if name in SCALAR_STATEMENTS:
        return SCALAR_STATEMENTS[name]
    if layout == "row" and name in ROW_STATEMENTS:
        return ROW_STATEMENTS[name]
    if name.startswith("act:"):
        return ACTIVATIONS[name[4:]].rule
    rule = next(r for op, r in VJP_RULES.items() if op.__name__ == name)
    return rule.row if layout == "row" and rule.row else rule.statement


def vjp(expr, g, ans=None, functions=ACTIVATIONS) -> list[tuple[sp.Basic, sp.Basic, tuple[str, ...]]]:
    """Shares ``(leaf, dL/dleaf contribution, rules on the path)`` of ``g = dL/dexpr`` for each leaf.

    ``ans`` names the value of ``expr`` itself (the assignment's target), so that derivatives
    written through the output (``1 - h ⊙ h``) refer to it instead of repeating ``tanh(z)``.
    ``functions`` is the table of elementwise functions whose derivatives the rules use (the
    registry; the checker passes a changed copy to see what a dropped derivative would give).
    """
    if isinstance(expr, (sp.MatrixSymbol, TimeVar)):
        return [(expr, g, ())]
    if isinstance(expr, CONSTANTS) or getattr(expr, "is_number", False):
        return []
    rule = VJP_RULES.get(type(expr))
    if rule is None:
        raise ModelError(f"no derivative rule for {type(expr).__name__} in {expr}")
    out = []
    for arg, share in rule.shares(expr, g, expr if ans is None else ans, functions):
        for leaf, contribution, rules in vjp(arg, share, functions=functions):
            out.append((leaf, contribution, (rule_name(expr),) + rules))
    return out


# ---------------------------------------------------------------------------------------------
# The backward program.


@dataclass(frozen=True)
class Term:
    """One share of an adjoint: ``expr`` flows from ``source`` through ``rules``.

    ``shift`` is 0 for a share from the same step and 1 for one from step t+1 (absent at t = T).
    """

    expr: sp.Basic
    source: str
    rules: tuple[str, ...]
    shift: int = 0


@dataclass(frozen=True)
class AdjointDef:
    """``adjoint = sum(terms)``: ``kind`` is "step" (defined for each t), "param" (summed over t)
    or "initial" (a state's initial value: its shift-1 terms at t = 0)."""

    var: str
    adjoint: sp.MatrixExpr
    terms: tuple[Term, ...]
    kind: str

    def value(self) -> sp.MatrixExpr:
        """The adjoint as one expression (a TimeSum for a parameter of a recurrent model)."""
        body = MatAdd(*(term.expr for term in self.terms)).doit() if self.terms else sp.ZeroMatrix(*self.adjoint.shape)
        if self.kind == "initial":
            return body.xreplace({t: 0})
        return body


@dataclass(frozen=True)
class Backward:
    """The adjoint program of a model: step adjoints in the order they are computed, then
    parameter, input and initial-state gradients."""

    program: Program
    steps: tuple[AdjointDef, ...]
    grads: tuple[AdjointDef, ...]

    @property
    def adjoint_of(self) -> dict[str, AdjointDef]:
        return {a.var: a for a in (*self.steps, *self.grads)}


ADJOINT_PREFIX = "d_"


def adjoint_symbol(v) -> sp.MatrixExpr:
    """``d_v``: the adjoint of a variable, of the same shape (a TimeVar at t for step variables)."""
    if isinstance(v, TimeVar):
        return TimeVar(ADJOINT_PREFIX + v.name, t, *v.shape)
    return sp.MatrixSymbol(ADJOINT_PREFIX + v.name, *v.shape)


def derive(program: Program, functions=ACTIVATIONS) -> Backward:
    """Reverse mode over ``program``: every adjoint as a sum of rule-justified terms (``functions``:
    the elementwise functions' derivatives, the registry unless a caller passes a changed copy)."""
    shares: dict[str, list[Term]] = {}

    def collect(expr, g, source, ans=None):
        for leaf, contribution, rules in vjp(expr, g, ans, functions):
            contribution = softmax_names(program, without_unit(contribution))
            shift = -int(leaf.offset) if isinstance(leaf, TimeVar) else 0
            if shift:
                contribution = contribution.xreplace({t: t + shift})
            shares.setdefault(key(leaf), []).append(Term(contribution, source, rules, shift))

    collect(program.loss, loss_seed(program.loss), "loss")
    for a in reversed(program.assignments):
        name = key(a.target)
        if name in shares:
            collect(a.expr, adjoint_symbol(a.target), name, ans=a.target)
    steps = tuple(step_adjoint(v, shares.get(key(v), ())) for v in reversed([a.target for a in program.assignments]))
    return Backward(program, tuple(s for s in steps if s.terms), argument_grads(program, shares))


UNITS = (sp.Identity(1), sp.OneMatrix(1, 1))


def loss_seed(loss):
    """``dL/dL = 1``: the number 1 for a scalar expression, the 1 x 1 unit for a 1 x 1 matrix expression."""
    return sp.Identity(1) if getattr(loss, "is_Matrix", False) else sp.S.One


def is_unit(e) -> bool:
    """The 1 x 1 unit, or a matrix of ones (the unit of the entrywise product)."""
    return e in UNITS or isinstance(e, sp.OneMatrix)


def unit_factor(e):
    """``(c, U)`` for a multiple ``c U`` of a unit ``U`` (the seed of a 1 x 1 loss, the ones of a sum of
    entries), else None."""
    coeff, factors = e.as_coeff_matrices() if isinstance(e, MatMul) else (sp.S.One, [e])
    return (coeff, factors[0]) if len(factors) == 1 and is_unit(factors[0]) else None


def without_unit(expr):
    """``expr`` with every multiple ``c U`` of a unit in an entrywise product written as a coefficient:
    ``(c U) ⊙ a = c a``."""
    def drop(node):
        units = [unit_factor(a) for a in node.args]
        rest = [a for a, u in zip(node.args, units) if u is None]
        found = [u for u in units if u is not None]
        return MatMul(sp.Mul(*(c for c, _ in found)), hadamard(*rest) if rest else found[0][1]).doit()

    def has_unit(e) -> bool:
        return isinstance(e, HadamardProduct) and any(unit_factor(a) is not None for a in e.args)

    if not getattr(expr, "is_Matrix", False) or not expr.atoms(sp.Identity, sp.OneMatrix):
        return expr
    return expr.replace(has_unit, drop)


def step_adjoint(v, terms) -> AdjointDef:
    return AdjointDef(key(v), adjoint_symbol(v), tuple(terms), "step")


def argument_grads(program: Program, shares) -> tuple[AdjointDef, ...]:
    """Gradients of the loss for every argument: parameters, inputs and initial states (or in ``program.order``)."""
    grads = []
    for p in program.params:
        terms = tuple(Term(sum_over_time(term.expr, program), term.source, term.rules)
                      for term in shares.get(p.name, ()))
        grads.append(AdjointDef(p.name, adjoint_symbol(p), terms, "param"))
    for x in program.inputs:
        grads.append(AdjointDef(key(x), adjoint_symbol(x), tuple(shares.get(key(x), ())), "step"))
    for state, initial in program.states.items():
        if is_fixed(initial):
            continue
        terms = tuple(term for term in shares.get(state, ()) if term.shift == 1)
        grads.append(AdjointDef(key(initial), adjoint_symbol(initial), terms, "initial"))
    if program.order:  # the arguments' own order (see Program.order)
        grads.sort(key=lambda g: program.order.index(g.var))
    return tuple(grads)


def sum_over_time(expr, program: Program):
    return TimeSum(expr) if program.recurrent else expr


# ---------------------------------------------------------------------------------------------
# Inlining: the adjoints written through the model's values and a few kept adjoints (delta_t).


def inline(expr, backward: Backward, keep: set[str] = frozenset()):
    """Replace every adjoint ``d_v`` (at any time tau) in ``expr`` (except those of ``keep``) by its definition at tau.

    The expression is generic in t: shares from step t+1 stay in (they vanish only at t = T)."""
    defs = {a.adjoint.name: a for a in backward.steps if a.var not in keep}

    def expand(node):
        d = defs[node.name]
        value = MatAdd(*(term.expr for term in d.terms)).doit()
        return value.xreplace({t: node.time}) if isinstance(node, TimeVar) else value

    for _ in range(len(defs) + 1):
        targets = [v for v in expr.atoms(TimeVar, sp.MatrixSymbol) if v.name in defs]
        if not targets:
            return without_unit(expr)
        expr = expr.xreplace({v: expand(v) for v in targets})
    raise ModelError("adjoint definitions are cyclic within one step")


# ---------------------------------------------------------------------------------------------
# Jacobians: a VJP is linear in the upstream adjoint g, ``vjp = M g``, and then ``J = M^T``.


def linear_map(expr, g) -> sp.MatrixExpr:
    """The matrix M with ``expr = M g`` for an expression linear in g (``a ⊙ g`` is ``diag(a) g``)."""
    if expr == g:
        return sp.Identity(g.shape[0])
    if isinstance(expr, MatAdd):
        return MatAdd(*(linear_map(a, g) for a in expr.args)).doit()
    if isinstance(expr, MatMul):
        coeff, factors = expr.as_coeff_matrices()
        *left, last = factors
        return MatMul(coeff, *left, linear_map(last, g)).doit()
    if isinstance(expr, HadamardProduct):
        inner = [a for a in expr.args if a.has(g)]
        others = [a for a in expr.args if not a.has(g)]
        if len(inner) == 1:
            return MatMul(sp.DiagMatrix(hadamard(*others)), linear_map(inner[0], g)).doit()
    raise ModelError(f"{expr} is not linear in {g}")


def transpose_map(m) -> sp.MatrixExpr:
    """M^T, keeping ``diag(v)^T = diag(v)``."""
    if isinstance(m, sp.DiagMatrix):
        return m
    if isinstance(m, MatMul):
        coeff, factors = m.as_coeff_matrices()
        return MatMul(coeff, *(transpose_map(f) for f in reversed(factors))).doit()
    if isinstance(m, MatAdd):
        return MatAdd(*(transpose_map(a) for a in m.args)).doit()
    return m.T


def step_vjp(program: Program, seeds: dict) -> dict:
    """One step backwards from adjoints ``seeds`` of the states written at t (nothing else seeded):
    the shares that reach each state read at t-1, by state name."""
    adjoints = dict(seeds)
    out: dict = {}
    for a in reversed(program.assignments):
        g = adjoints.get(key(a.target))
        if g is None:
            continue
        for leaf, contribution, _ in vjp(a.expr, g, ans=a.target):
            if isinstance(leaf, TimeVar) and leaf.offset == -1:
                out[leaf.name] = MatAdd(out[leaf.name], contribution).doit() if leaf.name in out else contribution
            elif isinstance(leaf, TimeVar) and leaf.name in program.defined:
                adjoints[leaf.name] = (MatAdd(adjoints[leaf.name], contribution).doit() if leaf.name in adjoints
                                       else contribution)
    return out


def state_jacobian(program: Program, of: str, wrt: str) -> sp.MatrixExpr:
    """``∂of_t/∂wrt_{t-1}``: one step of the state map, from its VJP (``vjp = J^T g``; for a model written in
    rows ``vjp = g J^T``, J in the denominator layout)."""
    target = program.defined[of].target
    g = TimeVar(ADJOINT_PREFIX + "_seed", t, *target.shape)  # reserved: no model name starts with d_
    share = step_vjp(program, {of: g}).get(wrt)
    if share is None:
        return sp.ZeroMatrix(max(target.shape), max(program.defined[wrt].target.shape))
    if is_row_vector(target.shape):  # rows: vjp = g J^T (J in the denominator layout, du = dv J), so vjp^T = J g^T
        return linear_map(sp.Transpose(share).doit(), sp.Transpose(g).doit())
    return transpose_map(linear_map(share, g))
