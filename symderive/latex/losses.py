r"""The loss of a model read from LaTeX: the last equation, ``L = ...``.

A model without time steps has one scalar loss, any expression of the model language whose value is a
scalar (``\frac{1}{2}(a - y)^2``, ``\frac{1}{2}\|a - y\|^2``, ``-y^\top \log p``, ``L = h``). A recurrent model
adds up the loss of every step, ``L = \sum_{t=1}^{T} \ell_t``, or averages it,
``L = \frac{1}{T}\sum_{t=1}^{T} \ell_t``; the loss of one step is written inline or named (``\ell_t``,
defined by an earlier equation). An undefined ``\ell_t`` or a call ``\ell(o_t, y_t)`` is an abstract loss
of its first argument: ``\frac12\|o_t - g_t\|^2`` with a hidden random ``g_t``, so that
``\partial\ell_t/\partial o_t`` is an arbitrary vector and a claim must hold for every value of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symderive.errors import ModelError
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import is_plain_number
from symderive.latex.words import LOSS_NAMES
from symderive.ops.nodes import T, t

RECURRENT_LOSS = (r"a recurrent model's loss adds up the loss of every step, L = \sum_{{t=1}}^{{T}} \ell_t, or "
                  r"averages it, L = \frac{{1}}{{T}}\sum_{{t=1}}^{{T}} \ell_t (got: {})")


@dataclass(frozen=True)
class LossForm:
    """The loss as read: the name of a per-step loss (``ell``), the variable of an abstract loss, the loss of
    one step (None when abstract), and the factor of a mean (``1/T``, else 1)."""

    step_loss: str | None
    abstract: str | None
    body: object
    scale: object = sp.S.One
    note: str | None = None


def step_term(rhs, recurrent: bool, text: str) -> tuple:
    r"""(the loss of one step, its factor): the body of ``\sum_{t=1}^{T}`` (times ``\frac{1}{T}`` for a mean)
    in a recurrent model, else (the whole loss, 1)."""
    if not recurrent:
        return rhs, sp.S.One
    scale, total = sp.S.One, rhs
    if isinstance(rhs, sp.Mul):
        sums = [a for a in rhs.args if isinstance(a, sp.Sum)]
        others = [a for a in rhs.args if not isinstance(a, sp.Sum)]
        if len(sums) == 1 and all(is_plain_number(a) or a.free_symbols <= {T} for a in others):
            scale, total = sp.Mul(*others), sums[0]
    if not (isinstance(total, sp.Sum) and tuple(total.limits[0]) == (t, 1, T)):
        raise ModelError(RECURRENT_LOSS.format(text))
    return total.function, scale


def read_loss(rhs, definitions: dict, sequences: set, recurrent: bool, text: str) -> LossForm:
    """The loss of the last equation (see the module's docstring)."""
    body, scale = step_term(rhs, recurrent, text)
    call = loss_call(body)
    if call is not None:
        return LossForm(type(call).__name__, abstract_variable(call, text), None, scale)
    if is_variable(body) and base_name(body) in LOSS_NAMES:
        return named_step_loss(base_name(body), definitions, sequences, recurrent, scale)
    return LossForm(None, None, body, scale)


def loss_call(body):
    r"""The call ``\ell(o_t, y_t)`` in ``body``, or None."""
    return next((f for f in sorted(body.atoms(sp.Function), key=str) if type(f).__name__ in LOSS_NAMES), None)


def abstract_variable(call, text: str) -> str:
    if not call.args or not is_variable(call.args[0]):
        raise ModelError(rf"an abstract loss is written \ell(o_t, y_t) with the output first (got: {text})")
    return base_name(call.args[0])


def named_step_loss(step_loss: str, definitions: dict, sequences: set, recurrent: bool, scale) -> LossForm:
    r"""``\ell_t`` as an earlier equation defines it, or (undefined) an abstract loss of the last step variable."""
    if step_loss in definitions:
        body = definitions[step_loss][1]
        call = loss_call(body)
        if call is not None:
            return LossForm(step_loss, abstract_variable(call, definitions[step_loss][2]), None, scale)
        return LossForm(step_loss, None, body, scale)
    last = [n for n in definitions if n in sequences or not recurrent][-1:]
    if not last:
        raise ModelError(rf"the loss {step_loss} is not defined; define it (\ell_t = ...) or write \ell(o_t, y_t)")
    note = rf"\{step_loss}_t is not defined: it is taken as an abstract loss of {last[0]}"
    return LossForm(step_loss, last[0], None, scale, note)
