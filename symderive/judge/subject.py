r"""What claims are judged against: a program, its derivation, and how its names read in LaTeX.

A subject comes from model equations in LaTeX (:func:`subject_of_latex`) or from a built-in
derivation in its documented notation (:func:`subject_of_derivation`: ``W_{hh}``, ``\delta_t``);
definitions a claim may use (``\delta_t = \frac{\partial L}{\partial h_t}``) are added with
:func:`read_where`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from symderive.errors import ModelError
from symderive.judge.notation import in_subject_names
from symderive.latex.builder import HIDDEN_TARGET
from symderive.latex.model import build_model
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import partial
from symderive.latex.reader import parse_sides
from symderive.latex.rewrites import size_name
from symderive.matrix.derive import Backward, derive
from symderive.model.program import Program, arguments, is_fixed, key
from symderive.ops.nodes import TimeVar, t
from symderive.ops.rows import options_of


@dataclass
class Subject:
    """What claims are judged against: a program, its derivation and how its names read in LaTeX."""

    program: Program
    backward: Backward
    loss_name: str = "L"
    step_loss: str | None = None
    where: dict = field(default_factory=dict)      # name -> (index symbols, parsed definition)
    latex_names: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)     # LaTeX-side name -> program name (h_0 -> h0)
    notes: list = field(default_factory=list)
    row_form: bool = False  # its documents print the row layout too: a claim may be written in either

    @cached_property
    def sequences(self) -> set:
        values = (*self.program.inputs, *(a.target for a in self.program.assignments))
        return {key(v) for v in values if isinstance(v, TimeVar)}

    @property
    def known(self) -> list[str]:
        names = {key(v) for v in (*arguments(self.program), *(a.target for a in self.program.assignments))}
        names = {self.reverse_labels.get(n, n) for n in names if n != HIDDEN_TARGET}
        return sorted(names | set(self.where) | {self.loss_name} | ({self.step_loss} if self.step_loss else set()))

    @property
    def names(self) -> set:
        """Every name a claim may use: the values of the model, the definitions, the losses, ``h_0``."""
        return set(self.known) | set(self.labels) | self.quantities

    @property
    def quantities(self) -> set:
        """The names of values a derivative can be taken with respect to (as the program names them)."""
        return self.argument_names | set(self.program.defined)

    @cached_property
    def argument_names(self) -> set:
        return {key(v) for v in arguments(self.program)}

    @property
    def reverse_labels(self) -> dict:
        return {v: k for k, v in self.labels.items()}

    def dims(self) -> list:
        return self.program.dims()

    def size_of(self, e) -> sp.Symbol | None:
        """The size ``d_k`` that ``e`` spells (the reader's d indexed by k) as a claim reads a size (a number, not an
        index letter), when the model has that size; else None."""
        name = size_name(e)
        return sp.Symbol(name, positive=True) if name and name in {d.name for d in self.dims()} else None

    @cached_property
    def options(self) -> dict:
        r"""The options the model reads (``\epsilon`` of a layer norm), by the name a claim reads them as."""
        named = {latex_name(o.latex): o for o in options_of(self.program) if o.free}
        return {name: o for name, o in named.items() if name is not None}

    def name_of(self, e) -> str:
        """The program name of the symbol ``e`` (``h_0`` reads as the initial state ``h0``)."""
        return self.labels.get(base_name(e), base_name(e))


def subject_of_latex(model: list[str], shapes: list[str] = ()) -> Subject:
    m = build_model(model, shapes)
    labels = dict(m.labels)  # the LaTeX names (W^(2), yhat, h_0) -> identifiers (W_2, y_hat, h0)
    step = m.step_loss or ("ell" if m.abstract_loss else None)
    return Subject(m.program, derive(m.program), m.loss_name, step, latex_names=m.notation,
                   labels=labels, notes=list(m.notes))


def subject_of_derivation(d) -> Subject:
    """A built-in (matrix-level) derivation, in its documented notation (``W_{hh}``, ``\\delta_t``)."""
    if not hasattr(d, "program") or not hasattr(d.program, "assignments"):
        raise ModelError(f"{d.name} is an index-level derivation; `check` judges matrix-level models "
                         "(dense, rnn, lstm, gru, softmax, attention, layernorm) or a model given with --model")
    p = d.program
    where = {}
    for adjoint, latex in d.latex_names.items():
        name = latex_name(latex)
        if adjoint.startswith("d_") and name is not None:
            where[name] = adjoint_definition(p, adjoint[2:])
    labels = {f"{s}_0": init.name for s, init in p.states.items() if not is_fixed(init)}
    labels.update(value_labels(d.latex_names))
    tokens = any(1 not in v.shape for v in p.inputs)  # data whose rows are tokens: no other layout to read it in
    return Subject(p, d.backward, "L", "ell" if p.recurrent else None, where, d.latex_names, labels,
                   row_form=not tokens)


def value_labels(latex_names: dict) -> dict:
    r"""The names the reader gives the document's spellings of values (``\hat X`` reads ``Xhat``) -> identifiers."""
    read = {name: latex_name(latex) for name, latex in latex_names.items() if not name.startswith("d_")}
    return {label: name for name, label in read.items() if label is not None and label != name}


def latex_name(latex: str) -> str | None:
    r"""The name the reader gives a document's symbol (``\delta^{c}`` is ``delta^c``); None if it is not one."""
    sides = parse_sides(latex)
    return base_name(sides[0]) if len(sides) == 1 and is_variable(sides[0]) else None


def adjoint_definition(p: Program, var: str) -> tuple:
    """``(index letters, ∂L/∂var)``: what the adjoint's LaTeX name (``\\delta_t``) stands for."""
    rec = p.recurrent and var in {key(a.target) for a in p.assignments}
    of = sp.Symbol("L", commutative=False)
    wrt = sp.IndexedBase(sp.Symbol(var, commutative=False))[t] if rec else sp.Symbol(var, commutative=False)
    return ((t,) if rec else (), partial(of, wrt))


def read_where(subject: Subject, texts: list[str]) -> None:
    """Add each definition ``NAME = EXPRESSION`` (``\\delta_t = ...``) to the subject."""
    for text in texts:
        sides = parse_sides(text)
        if len(sides) < 2 or not is_variable(sides[0]):
            raise ModelError(f"a definition is 'NAME = EXPRESSION' (\\delta_t = ...): {text}")
        lhs = sides[0]
        variables = tuple(lhs.indices) if isinstance(lhs, sp.Indexed) else ()
        if not all(isinstance(v, sp.Symbol) for v in variables):
            raise ModelError(f"index a definition by letters (\\delta_t), not {lhs}")
        subject.where[base_name(lhs)] = (variables, in_subject_names(sides[-1], subject))
