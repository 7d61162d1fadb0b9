r"""The notation of the tool's own documents in a claim, read as the subject's names.

The documents write a label and a step in one subscript (``a_{o,t}``: the quantity ``a_o`` at step t),
an adjoint with a bar (``\bar{o}_{t} = \partial L/\partial o_t``, ``\bar{\hat{y}}_t``, bold or not),
the adjoint of one state of several with a letter over it (``\delta^{c}_{t}``, a definition of the
subject), and the loss of one step as a call (``\ell(o_t, y_t)``, the step loss ``\ell_t``).
:func:`in_subject_names` rewrites a parsed claim so that every symbol is one of the subject's names;
a name the subject knows is never rewritten (a model may call a value ``\bar x``).
"""
from __future__ import annotations

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import indexed, matrix_symbol, partial
from symderive.latex.words import GREEK

#: the accent that marks an adjoint, as the reader writes it into a name (``\bar{o}`` is ``obar``)
BAR = "bar"


def in_subject_names(expr, subject):
    """``expr`` with the documents' notation rewritten into the subject's names (see the module)."""
    if not isinstance(expr, sp.Basic):
        return expr
    known = subject.names
    rules = {e: renamed(e, known, subject) for e in expr.atoms(sp.Indexed)}
    rules.update({e: renamed(e, known, subject) for e in expr.atoms(sp.Symbol) if is_variable(e)})
    rules.update({e: step_loss_call(e, subject) for e in expr.atoms(AppliedUndef)
                  if type(e).__name__ == subject.step_loss})
    return expr.xreplace({k: v for k, v in rules.items() if v is not None and v != k})


def renamed(e, known: set, subject):
    """The subject's name for one symbol (``a_{o,t}`` -> ``a_o[t]``, ``\\bar{o}_t`` -> ``∂L/∂o_t``),
    or None to keep it."""
    name, indices = base_name(e), list(e.indices) if isinstance(e, sp.Indexed) else []
    if subject.size_of(e) is not None:  # d_k: a size of the model, not d indexed by k
        return subject.size_of(e)
    value = folded(name, indices, known)
    if value is not None:
        return value
    if BAR in name:
        value = folded(name.replace(BAR, "", 1), indices, known)
        if value is not None and base_name(value) in subject.quantities:
            return partial(matrix_symbol(subject.loss_name), value)
    return None


def folded(name: str, indices: list, known: set):
    """``name`` with leading label letters of its subscript folded into the name (``a[o, t]`` is
    ``a_o[t]``), when that names something the subject knows; None if the name is unknown."""
    while (name not in known and indices and isinstance(indices[0], sp.Symbol)
           and f"{name}_{indices[0]}" in known):
        name, indices = f"{name}_{indices[0]}", indices[1:]
    if name not in known:
        return None
    return indexed(name, *indices) if indices else matrix_symbol(name)


def step_loss_call(e, subject):
    r"""``\ell(o_t, y_t)``: the loss of step t, ``\ell_t`` (the step of its first argument)."""
    first = e.args[0] if e.args else None
    if isinstance(first, sp.Indexed) and len(first.indices) == 1:
        return indexed(subject.step_loss, first.indices[0])
    return None


def powered(text: str, exp) -> str:
    """``text``, raised to ``exp`` when SymPy's power printer passes one (in parentheses)."""
    return rf"\left({text}\right)^{{{exp}}}" if exp else text


class ClaimPrinter(LatexPrinter):
    r"""A parsed claim in LaTeX again, for messages: ``W_{hh}^{\top}``, ``a \odot b``,
    ``\frac{\partial L}{\partial W}``."""

    def _print_transpose(self, e, exp=None):
        return powered(f"{self.parenthesize(e.args[0], PRECEDENCE['Pow'])}^{{\\top}}", exp)

    def _print_hadamard(self, e, exp=None):
        return powered(r" \odot ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in e.args), exp)

    def _print_partial(self, e, exp=None):
        return powered(rf"\frac{{\partial {self._print(e.args[0])}}}{{\partial {self._print(e.args[1])}}}", exp)

    def _print_Function(self, e, exp=None):
        name = type(e).__name__
        head = self._print(sp.Symbol(name)) if len(name) == 1 or name in GREEK else rf"\operatorname{{{name}}}"
        text = rf"{head}\left({', '.join(self._print(a) for a in e.args)}\right)"
        return f"{text}^{{{exp}}}" if exp else text

    def _print_Indexed(self, e):
        return f"{self._print(e.base.label)}_{{{', '.join(self._print(i) for i in e.indices)}}}"


def written(expr) -> str:
    """``expr`` (a parsed claim or a part of one) as LaTeX, the way a person would write it."""
    return ClaimPrinter().doprint(expr)


def layered_latex(name: str) -> str | None:
    r"""The LaTeX of a program name with a layer label, braced so that a transpose can follow
    (``W^(2)`` is ``{W^{(2)}}``, ``W_hh^(1)`` is ``{W_{hh}^{(1)}}``); None for a name without one."""
    base, mark, layer = name.partition("^(")
    if not mark:
        return None
    letters, _, label = base.partition("_")
    head = f"{letters}_{{{label}}}" if label else letters
    return f"{{{head}^{{({layer.rstrip(')')})}}}}"
