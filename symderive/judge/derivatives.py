r"""The value of ``∂A/∂B`` in a claim, from the derived backward program evaluated at the point.

* ``∂L/∂W`` (a parameter) and ``∂L/∂h_t`` (a value at a step: the adjoint, through *all* later
  steps) are the derived gradients;
* ``∂ℓ_t/∂o_t`` (one step's loss) is the adjoint with only the loss of step t seeded;
* Jacobians ``∂h_t/∂h_i`` (i ≤ t, all paths) are built row by row from unit seeds (row k is the
  adjoint of ``h_i`` when ``h_t`` is seeded with ``e_k``); one step of a state map with the other
  states held fixed is the engine's ``state_jacobian`` (``∂c_t/∂c_{t-1} = diag(f_t)``).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from symderive.errors import ModelError, UnknownSymbolError
from symderive.judge.context import ClaimEvaluation
from symderive.judge.values import NotApplicable, is_array
from symderive.latex.names import base_name, is_variable
from symderive.matrix import evaluate as ev
from symderive.matrix.derive import state_jacobian
from symderive.model.program import is_fixed
from symderive.ops.registry import is_row_vector


def derivative(e, ctx: ClaimEvaluation):
    """``∂of/∂wrt`` (the reader's ``partial(of, wrt)``) as an array of the point."""
    of, wrt = e.args
    s, p = ctx.subject, ctx.point
    of_name = s.name_of(of) if is_variable(of) else None
    wrt_target = target(wrt, ctx)
    if of_name == s.loss_name and not isinstance(of, sp.Indexed):
        return p.gradient_in(p.env, wrt_target)
    if of_name is not None and of_name == s.step_loss:
        return step_loss_derivative(of, of_name, wrt_target, ctx)
    if of_name is not None and of_name in s.program.defined:
        return jacobian(of_name, of, wrt_target, ctx)
    if of_name is not None and of_name in s.where:
        raise ModelError(f"differentiate model quantities, not the definition {of_name}")
    raise UnknownSymbolError(base_name(of) if is_variable(of) else str(of), s.known, "a derivative")


def step_loss_derivative(of, of_name: str, wrt_target, ctx: ClaimEvaluation):
    """``∂ℓ_t/∂wrt``: zero for a value after step t."""
    p = ctx.point
    origin = ctx.index(of.indices[0]) if isinstance(of, sp.Indexed) else None
    if not ctx.subject.program.recurrent:
        return p.gradient_in(p.env, wrt_target)
    if origin is None:
        raise ModelError(f"write the loss of one step with its index: \\{of_name}_t")
    if isinstance(wrt_target, tuple) and wrt_target[1] > origin:
        name, _ = wrt_target
        return p.zero(ctx.subject.program.defined[name].target)
    return p.gradient_in(p.adjoint_env(origin), wrt_target)


def target(wrt, ctx: ClaimEvaluation):
    """What ``∂/∂wrt`` differentiates with respect to: a name, or (name, step)."""
    s = ctx.subject
    if not is_variable(wrt):
        raise ModelError(f"differentiate with respect to one symbol, not {wrt}")
    name = s.name_of(wrt)
    if isinstance(wrt, sp.Indexed):
        indices = [ctx.index(i) for i in wrt.indices]
        if name in s.sequences:
            return step_target(name, indices[0], ctx)
        label = s.labels.get(f"{name}_{''.join(map(str, indices))}", f"{name}_{''.join(map(str, indices))}")
        if label in s.argument_names or label in s.program.defined:
            return label
    elif name in s.argument_names or name in s.program.defined:
        if name in s.sequences:
            raise ModelError(f"{name} is a sequence: differentiate with respect to {name}_t")
        return name
    raise UnknownSymbolError(base_name(wrt), s.known, "the denominator of a derivative")


def step_target(name: str, step: int, ctx: ClaimEvaluation):
    """``name_step`` of a sequence: the initial state at step 0 (none when it is fixed, ``h_0 = 0``: a constant);
    no derivative outside 1..T."""
    states = ctx.subject.program.states
    if step == 0 and name in states and not is_fixed(states[name]):
        return states[name].name
    if not 1 <= step <= ctx.point.steps:
        raise NotApplicable()
    return (name, step)


def jacobian(of_name: str, of, wrt_target, ctx: ClaimEvaluation):
    """∂of/∂wrt for vectors: row k is the adjoint of wrt when of is seeded with e_k."""
    p, s = ctx.point, ctx.subject
    origin = jacobian_step(of_name, of, wrt_target, ctx) if s.program.recurrent else None
    states = s.program.states
    if (origin is not None and of_name in states and isinstance(wrt_target, tuple) and wrt_target[0] in states
            and wrt_target[1] == origin - 1):
        # one step of the state map, the other states held fixed (∂c_t/∂c_{t-1} = diag(f_t) for an LSTM)
        return ev.evaluate(state_jacobian(s.program, of_name, wrt_target[0]), p.env, origin)
    target = s.program.defined[of_name].target
    dims = [ev.size(d, p.env) for d in target.shape]
    if any(d != 1 for d in dims) and all(d != 1 for d in dims):
        raise ModelError(f"∂{of_name}/∂... of a matrix {of_name} is not supported (only vectors)")
    rows = [jacobian_row(of_name, target, k, origin, wrt_target, ctx) for k in range(int(np.prod(dims)))]
    numerator = sp.Matrix(rows) if ctx.symbolic else np.array(rows)
    # a model written in rows writes Jacobians in the denominator layout (du = dv J), the transpose
    return numerator.T if is_row_vector(dims) else numerator


def jacobian_step(of_name: str, of, wrt_target, ctx: ClaimEvaluation) -> int:
    """The step t of ``∂of_t/∂wrt`` (no derivative outside 1..T, or of a value after t)."""
    if not isinstance(of, sp.Indexed):
        raise ModelError(f"write {of_name} with its time index")
    origin = ctx.index(of.indices[0])
    if not 1 <= origin <= ctx.point.steps:
        raise NotApplicable()
    if isinstance(wrt_target, tuple) and wrt_target[1] > origin:
        raise NotApplicable()
    return origin


def jacobian_row(of_name: str, target, k: int, origin, wrt_target, ctx: ClaimEvaluation) -> list:
    """Row k of the Jacobian: the adjoint of wrt when ``of`` is seeded with the unit vector e_k."""
    p = ctx.point
    env = p.adjoint_env(origin, of_name, unit(target, k, ctx))
    g = p.gradient_in(env, wrt_target)
    if is_array(g) and all(ev.size(d, p.env) != 1 for d in g.shape):
        raise ModelError("the derivative of a vector with respect to a matrix is a 3-tensor; "
                         "claim ∂L/∂W instead")
    return list(g) if ctx.symbolic else np.ravel(g)


def unit(target, k: int, ctx: ClaimEvaluation):
    """The unit matrix e_k of the shape of ``target`` (entry k in row-major order)."""
    shape = tuple(ev.size(d, ctx.point.env) for d in target.shape)
    if ctx.symbolic:
        m = sp.zeros(*shape)
        m[k] = 1
        return m
    m = np.zeros(shape)
    m.flat[k] = 1.0
    return m
