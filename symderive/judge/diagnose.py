r"""Why a claim is wrong: the usual mistakes, tried one by one on the same points.

Each trial changes the claim, the derivation or the reading of a product, and asks whether the
changed claim then holds everywhere: transposed, the wrong sign, a constant factor, an activation's
derivative missing or doubled (the derivation redone with f' replaced, through a changed function
table passed to the engine), a recurrent term missing (truncation after one step), sums over the
wrong bounds, ``h_t`` and ``h_{t-1}`` swapped or one shifted, a product in the other order. The first
trial that explains the difference names the mistake. :func:`correct_formula` gives the engine's
formula where the derivative is a single adjoint or a one-step Jacobian.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp

from symderive.errors import SymderiveError
from symderive.judge.compare import Claim
from symderive.judge.conditions import factor_trial, matches, normalised_targets_trial, zero_start_trial
from symderive.judge.notation import layered_latex, written
from symderive.judge.point import Point, cross_entropy_targets
from symderive.judge.row_trials import ROW_TRIALS
from symderive.judge.subject import Subject
from symderive.latex.builder import HIDDEN_TARGET
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import IDENTITY, ONES, partial, transpose
from symderive.matrix import evaluate as ev
from symderive.matrix.derive import derive, inline, state_jacobian
from symderive.matrix.latex_printer import to_latex
from symderive.matrix.sections import written_in_rows
from symderive.model.program import Program
from symderive.ops.nodes import Elementwise, TimeVar, hadamard, ones, t
from symderive.ops.registry import ACTIVATIONS

ASCENDING = {"ascending": True}
UNEXPLAINED = "does not match the derivation; the correct expression is shown, and the entries that differ"



def diagnose(claim: Claim, points: list[Point]) -> str:
    """The first usual mistake that explains why the claim differs from the derivation; a claim that holds
    when every initial state is 0 says so first."""
    general = first_explanation(claim, points)
    if zero_start_trial(claim, points):
        names = ", ".join(f"{name}_0" for name in sorted(points[0].subject.program.states))
        return f"holds when {names} = 0; in general it does not: {general}"
    if normalised_targets_trial(claim, points):
        program = points[0].subject.program
        names = ", ".join(f"{n}_t" if program.recurrent else n for n in cross_entropy_targets(program))
        return (f"holds when every target {names} sums to 1 (one-hot or probability targets): the gradient of "
                r"-y^\top \log\operatorname{softmax}(o) is (\mathbf{1}^\top y)\operatorname{softmax}(o) - y, "
                f"which is softmax(o) - y only then; in general it does not: {general}")
    return general


def first_explanation(claim: Claim, points: list[Point]) -> str:
    for trial in TRIALS:
        message = trial(claim, points)
        if message:
            return message
    return UNEXPLAINED




def recurrent_only(trial):
    """A trial that only a recurrent model can fail."""
    def run(claim, points):
        return trial(claim, points) if points[0].subject.program.recurrent else ""
    return run


def transposed(x):
    return x.T if np.ndim(x) == 2 else x


# ---------------------------------------------------------------------------------------------
# The trials, in the order they are tried.


def transpose_trial(claim, points) -> str:
    return "matches if you transpose the right-hand side" if matches(claim, points, transform=transposed) else ""


def symbol_transpose_trial(claim, points) -> str:
    """One matrix of the claim (every place it appears) transposed, or its transpose undone, matches."""
    for symbol in sorted(matrix_symbols(claim.rhs), key=str)[:MAX_SYMBOLS]:
        flipped = claim.rhs.xreplace({symbol: transpose(symbol), transpose(symbol): symbol})
        if matches(claim.with_rhs(flipped), points):
            return transpose_message(symbol, claim.rhs)
    return ""


def transpose_message(symbol, rhs) -> str:
    """What is wrong with the transposes of ``symbol`` in ``rhs``, in LaTeX."""
    shown = written(symbol)
    plain = rhs.xreplace({transpose(symbol): sp.Dummy(commutative=False)}).has(symbol)
    flipped = rhs.has(transpose(symbol))
    if plain and not flipped:
        return f"a transpose is missing: ${shown}$ should be ${{{shown}}}^{{\\top}}$"
    if flipped and not plain:
        return f"a transpose too many: ${{{shown}}}^{{\\top}}$ should be ${shown}$"
    return f"the transposes of ${shown}$ are the wrong way round: ${shown}$ and ${{{shown}}}^{{\\top}}$ swap places"


def matrix_symbols(expr) -> set:
    """The symbols of values (``W_{hh}``, ``h_t``) in ``expr``, not the identity or the ones."""
    return {e for e in expr.atoms(sp.Symbol, sp.Indexed) if is_variable(e)} - {IDENTITY, ONES} - {
        e.base.label for e in expr.atoms(sp.Indexed)}


def transposed_product_trial(claim, points) -> str:
    if claim.rhs.has(sp.Product) and matches(claim, points, transform=transposed, options=ASCENDING):
        return ("matches if you transpose the right-hand side: the product of transposed Jacobians is the transpose "
                "of the Jacobian (denominator layout); as a Jacobian it is the product of the untransposed factors")
    return ""


def sign_trial(claim, points) -> str:
    if matches(claim, points, transform=lambda x: -x):
        return "off by a sign: the right-hand side has the wrong sign"
    return ""



def activation_trial(claim, points) -> str:
    """The claim matches a derivation with some f' replaced by 1 (missing) or by f'^2 (extra)."""
    program = points[0].subject.program
    for fname in sorted(activations(program)):
        for kind in ("missing", "extra"):
            bw = derive_with(program, fname, kind)
            if bw is not None and matches(claim, [p.variant(backward=bw) for p in points]):
                rule = ACTIVATIONS[fname].rule
                return (f"the derivative of {fname} is missing (${rule}$)" if kind == "missing"
                        else f"the derivative of {fname} appears twice (${rule}$ once is enough)")
    return ""


def other_activation_trial(claim, points) -> str:
    """The claim matches a derivation where f' is replaced by another function's derivative written through
    f's output (tanh' = 1 - a^2 used in a sigmoid model, where sigma' = a (1 - a))."""
    program = points[0].subject.program
    for fname in sorted(activations(program)):
        for other in COMMON_ACTIVATIONS:
            if other == fname or other not in ACTIVATIONS:
                continue
            bw = derive_with(program, fname, other)
            if bw is not None and matches(claim, [p.variant(backward=bw) for p in points]):
                return (f"the derivative of {other} is used where {fname} is applied: "
                        f"${ACTIVATIONS[fname].rule}$, not ${ACTIVATIONS[other].rule}$")
    return ""


#: the activations whose derivative is tried in place of another's
COMMON_ACTIVATIONS = ("tanh", "sigmoid", "relu")


@recurrent_only
def recurrent_term_trial(claim, points) -> str:
    """The claim matches backpropagation cut after one step (its right side, or the derivative)."""
    cut = [p.variant(truncation=ev.Truncation(k=1)) for p in points]
    if matches(claim, points, truth_points=cut) or matches(claim, cut):
        return ("a recurrent term is missing: every value at step t also reaches the loss through step t+1 "
                "(the share carried back from t+1)")
    return ""


@recurrent_only
def sum_bounds_trial(claim, points) -> str:
    for s in list(claim.rhs.atoms(sp.Sum)):
        var, lo, hi = s.limits[0]
        for dlo, dhi in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):
            new = s.func(s.function, (var, lo + dlo, hi + dhi))
            if matches(claim.with_rhs(claim.rhs.xreplace({s: new})), points):
                return (f"the sum over {var} has the wrong bounds: it should run from {var} = {sp.latex(lo + dlo)} "
                        f"to {sp.latex(hi + dhi)}, not from {sp.latex(lo)} to {sp.latex(hi)}")
    return ""


@recurrent_only
def steps_trial(claim, points) -> str:
    """A value read at the wrong step: ``h_t`` and ``h_{t-1}`` swapped, or one occurrence shifted (a gate
    ``f_t`` where ``f_{t+1}`` belongs); the states first, then every other sequence in the claim."""
    subject = points[0].subject
    states = sorted(subject.program.states)
    others = sorted({base_name(e) for e in claim.rhs.atoms(sp.Indexed)} & subject.sequences - set(states))
    for name in states + others:
        swapped = swap_steps(claim, name)
        if swapped is not None and matches(swapped, points):
            return f"{name}_t and {name}_{{t-1}} are swapped"
        for old, new, variant in shifted_steps(claim, name):
            if matches(variant, points):
                return f"{latex_indexed(old)} should be {latex_indexed(new)} (where it appears as {latex_indexed(old)})"
    return ""


def factor_order_trial(claim, points) -> str:
    """A product of matrices (Jacobians, chain-rule factors) written in the wrong order: some reordering of
    its factors that keeps them in a cycle (``A B`` as ``B A``, ``J_{t-1} J_t`` as ``J_t J_{t-1}``) matches."""
    for product in products(claim.rhs):
        for reordered in reorderings(product):
            if matches(claim.with_rhs(claim.rhs.xreplace({product: reordered})), points):
                side = "right" if written_in_rows(points[0].subject.program) else "left"
                return (f"the chain-rule factors are in the wrong order: ${written(product)}$ should be "
                        f"${written(reordered)}$ (the factor of the later operation, nearest the output, "
                        f"stands on the {side})")
    return ""


def products(expr) -> list:
    """The matrix products in ``expr`` (two or more non-commutative factors), largest first."""
    found = [e for e in sp.preorder_traversal(expr)
             if isinstance(e, sp.Mul) and sum(not a.is_commutative for a in e.args) >= 2]
    return found[:MAX_PRODUCTS]


def reorderings(product: sp.Mul):
    """The product's matrix factors rotated (each rotation by 1..m-1) and reversed; scalars kept in front."""
    scalars = [a for a in product.args if a.is_commutative]
    factors = [a for a in product.args if not a.is_commutative]
    orders = [factors[k:] + factors[:k] for k in range(1, len(factors))] + [factors[::-1]]
    seen = {tuple(factors)}
    for order in orders:
        if tuple(order) not in seen:
            seen.add(tuple(order))
            yield sp.Mul(*scalars, *order, evaluate=False)


def product_order_trial(claim, points) -> str:
    if claim.rhs.has(sp.Product) and matches(claim, points, options=ASCENDING):
        return ("the product is in the wrong order: the chain rule puts the factor of the latest step on the left "
                "(read as written from the largest index down, it would match)")
    return ""


TRIALS = (transpose_trial, symbol_transpose_trial, transposed_product_trial, sign_trial, factor_trial, activation_trial,
          other_activation_trial, recurrent_term_trial, sum_bounds_trial, factor_order_trial, steps_trial,
          product_order_trial, *ROW_TRIALS)
#: the most matrix products whose orders are tried, and the most symbols tried transposed
MAX_PRODUCTS = 6
MAX_SYMBOLS = 12


# ---------------------------------------------------------------------------------------------
# Changed claims and changed derivations.


def swap_steps(claim: Claim, name: str):
    """The claim with ``name_{t+k}`` and ``name_{t+k-1}`` exchanged (None if it has no such pair)."""
    hits = [e for e in claim.rhs.atoms(sp.Indexed) if base_name(e) == name]
    if not hits:
        return None
    mapping = {}
    for e in hits:
        i = e.indices[0]
        other = sp.IndexedBase(e.base.label)[i - 1] if any(h.indices[0] == i - 1 for h in hits) else None
        if other is not None:
            mapping[e] = other
            mapping[other] = e
    return claim.with_rhs(claim.rhs.xreplace(mapping)) if mapping else None


def shifted_steps(claim: Claim, name: str):
    """(old, new, claim) for each occurrence of ``name_{i}`` replaced by ``name_{i-1}`` or ``name_{i+1}``."""
    occurrences = [e for e in sp.preorder_traversal(claim.rhs) if isinstance(e, sp.Indexed) and base_name(e) == name]
    for n, old in enumerate(occurrences):
        for shift in (-1, 1):
            new = sp.IndexedBase(old.base.label)[old.indices[0] + shift]
            yield old, new, claim.with_rhs(replace_nth(claim.rhs, n, new, name))


def replace_nth(expr, n: int, new, name: str):
    """``expr`` with its n-th occurrence (in preorder) of an Indexed ``name`` replaced by ``new``."""
    count = [0]

    def walk(e):
        if isinstance(e, sp.Indexed) and base_name(e) == name:
            count[0] += 1
            return new if count[0] - 1 == n else e
        if not e.args or isinstance(e, sp.Indexed):
            return e
        return e.func(*(walk(a) for a in e.args))

    return walk(expr)


def latex_indexed(e) -> str:
    return f"{base_name(e)}_{{{sp.latex(e.indices[0])}}}"


def activations(program: Program) -> set:
    """The elementwise functions the model applies."""
    return {e.fname for a in program.assignments for e in a.expr.atoms(Elementwise)}


def derive_with(program: Program, fname: str, kind: str):
    """The backward program with f' replaced by 1 ("missing"), by f'^2 ("extra"), or by the derivative of the
    activation named ``kind`` written through f's output; the registry is left as it is (the changed table is
    passed to the engine)."""
    act = ACTIVATIONS[fname]
    if kind in ACTIVATIONS:
        changed = dataclasses.replace(act, derivative=ACTIVATIONS[kind].derivative)
    elif kind == "missing":
        changed = dataclasses.replace(act, derivative=lambda ans, z: ones(ans))
    else:
        def squared(ans, z):
            return hadamard(act.derivative(ans, z), act.derivative(ans, z))

        changed = dataclasses.replace(act, derivative=squared)
    try:
        return derive(program, functions={**ACTIVATIONS, fname: changed})
    except SymderiveError:
        return None


# ---------------------------------------------------------------------------------------------
# The correct formula.


def step_loss_derivatives(formula):
    r"""An abstract loss ``\ell(o_t, y_t)`` is judged as ``\frac12\|o_t - g_t\|^2`` with a hidden random target
    ``g``, so its derivative ``o_t - g_t`` stands in a formula: written back as
    ``\frac{\partial \ell_t}{\partial o_t}``. The formula with those terms as named symbols, and their LaTeX."""
    names, rules = {}, {}
    for term in formula.atoms(sp.MatAdd):
        hidden = [v for v in term.atoms(TimeVar, sp.MatrixSymbol) if getattr(v, "name", "") == HIDDEN_TARGET]
        values = [v for v in term.atoms(TimeVar, sp.MatrixSymbol) if v not in hidden]
        if len(hidden) != 1 or len(values) != 1 or term != values[0] - hidden[0]:
            continue
        value = values[0]
        name = f"dell_{len(names)}"
        ell = to_latex(TimeVar("ell", value.time, *value.shape)) if isinstance(value, TimeVar) else r"\ell"
        names[name] = rf"\frac{{\partial {ell}}}{{\partial {to_latex(value)}}}"
        rules[term] = sp.MatrixSymbol(name, *value.shape)
    return formula.xreplace(rules), names


def at_step(formula, wrt):
    """The engine's formula (written at step t) at the step of ``wrt`` (``h_{t-1}``: every ``v_{t+k}`` as
    ``v_{t-1+k}``); unchanged for a value without a step."""
    if not isinstance(wrt, sp.Indexed) or len(wrt.indices) != 1:
        return formula
    step = wrt.indices[0]
    step = step.xreplace({v: t for v in step.free_symbols if v.name == t.name})
    return formula.xreplace({v: v.at(sp.expand(v.time.xreplace({t: step}))) for v in formula.atoms(TimeVar)})


def adjoint_names(s: Subject) -> dict:
    r"""The user's names of adjoints (``\delta_t = \frac{\partial L}{\partial h_t}`` names ``d_h`` ``\delta``), so
    that a formula is written in them."""
    names = {}
    for name, (variables, definition) in s.where.items():
        if not isinstance(definition, partial):
            continue
        of, wrt = definition.args
        indices = tuple(wrt.indices) if isinstance(wrt, sp.Indexed) else ()
        if is_variable(of) and base_name(of) == s.loss_name and is_variable(wrt) and indices == tuple(variables):
            names[f"d_{s.name_of(wrt)}"] = written(sp.Symbol(name, commutative=False))
    return names


def correct_formula(claim: Claim, s: Subject) -> str:
    """The engine's formula for the derivative, where it is a single adjoint or a one-step Jacobian."""
    of, wrt = claim.lhs.args
    try:
        name = s.name_of(wrt)
        if is_variable(of) and base_name(of) == s.loss_name:
            adj = s.backward.adjoint_of.get(name)
            if adj is not None:
                formula = inline(adj.value(), s.backward, keep=set(s.program.states))
                formula, names = step_loss_derivatives(at_step(formula, wrt))
                layered = {n: layered_latex(n) for n in s.quantities if layered_latex(n)}
                return to_latex(formula, latex_names={**layered, **s.latex_names, **adjoint_names(s), **names})
        if (is_variable(of) and base_name(of) in s.program.states and isinstance(wrt, sp.Indexed)
                and name in s.program.states and sp.expand(of.indices[0] - wrt.indices[0]) == 1):
            return to_latex(state_jacobian(s.program, base_name(of), name), latex_names=s.latex_names)
    except Exception:  # the formula is a courtesy; the verdict does not depend on it
        return ""
    return ""
