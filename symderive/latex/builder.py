r"""The builder: parsed model equations -> a :class:`~symderive.model.Program` with inferred shapes.

A symbol subscripted by ``t`` on a left-hand side is a sequence assigned at each step, one read at ``t-1``
is a recurrent state (its initial value ``h_0`` an argument), every other symbol on a right-hand side is
an argument (a weight, or data such as ``x_t``). The last equation defines the scalar loss.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import ModelError, ShapeMismatchError, SymderiveError
from symderive.latex.converter import Converter
from symderive.latex.losses import LossForm, read_loss
from symderive.latex.names import base_name, is_variable, time_offset
from symderive.latex.rewrites import is_size
from symderive.latex.shapes import ShapeInference
from symderive.latex.sizes import size_names
from symderive.model.program import Assign, Program
from symderive.ops.nodes import SquaredNorm, TimeVar, t
from symderive.ops.softmax import fuse_log_softmax

#: the hidden random target ``g`` of an abstract loss ``\ell(o) = \frac12\|o - g\|^2``
HIDDEN_TARGET = "g_ell"


@dataclass
class LatexModel:
    """A model read from LaTeX: its program, the sizes it was inferred at, and how names map.

    ``labels`` maps the names a claim may write (the reader's ``W^(2)``, ``yhat``, an initial state ``h_0``)
    to the program's identifiers (``W_2``, ``y_hat``, ``h0``); ``program.latex_names`` maps each identifier
    to its LaTeX as the model wrote it."""

    program: Program
    dims: dict            # identifier -> (rows, cols) as size expressions (or None for a scalar)
    loss_name: str        # "L"
    step_loss: str | None  # "ell" when the per-step loss has a name
    abstract_loss: str | None  # the variable an abstract ell(o_t, ...) depends on
    notes: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted(n for n in self.dims if n != HIDDEN_TARGET)

    @property
    def notation(self) -> dict:
        """The identifiers whose LaTeX is not the identifier itself read as LaTeX (``W_2``: ``W^{(2)}``,
        ``y_hat``: ``\\hat y``; not ``W_hh``: ``W_{hh}``)."""
        return {name: latex for name, latex in self.program.latex_names.items()
                if re.sub(r"[\s{}]", "", latex) != name}


class Builder(ShapeInference):
    """One attempt at building the model, in one layout ("scalar": every undeclared symbol a scalar;
    "column" or "row": vectors are columns or rows)."""

    def __init__(self, equations, declarations, layout):
        super().__init__(declarations, layout)
        self.equations = equations
        self.notes: list = []

    # -- which symbol is what --------------------------------------------------------------
    def build(self) -> LatexModel:
        """Steps, then the loss: their shapes inferred, then the program."""
        *steps, (loss_lhs, loss_rhs, loss_text) = self.equations.steps
        if not is_variable(loss_lhs) or isinstance(loss_lhs, sp.Indexed):
            raise ModelError(f"the last equation defines the loss and its left side must be one symbol: {loss_text}")
        assigned, definitions = self.definitions(steps)
        if base_name(loss_lhs) in definitions:
            raise ModelError(f"{base_name(loss_lhs)} is defined twice: {definitions[base_name(loss_lhs)][2]} "
                             f"and {loss_text} (the last equation defines the loss)")
        if any(is_variable(e) and base_name(e) == base_name(loss_lhs) for e in sp.preorder_traversal(loss_rhs)):
            raise ModelError(f"the loss {base_name(loss_lhs)} is used in its own definition: {loss_text}")
        recurrent = bool(self.sequences) or loss_rhs.has(sp.Sum)
        loss = read_loss(loss_rhs, definitions, self.sequences, recurrent, loss_text)
        self.notes += [loss.note] if loss.note else []
        names = [n for n in assigned if n != loss.step_loss]
        exprs = self.step_shapes(names, definitions)
        self.loss_shape(loss, recurrent, loss_text)
        return self.program(names, exprs, loss, recurrent, base_name(loss_lhs))

    def definitions(self, steps) -> tuple[list, dict]:
        """The names the step equations assign, in order, and each name's (lhs, rhs, text)."""
        assigned, definitions = [], {}
        for lhs, rhs, text in steps:
            if not is_variable(lhs):
                raise ModelError(f"the left side of a model equation must be one symbol: {text}")
            if isinstance(lhs, sp.Indexed):
                if len(lhs.indices) != 1 or time_offset(lhs.indices[0]) != 0:
                    raise ModelError(f"write each step for a generic t (h_t = ...), not {lhs}: {text}")
                self.sequences.add(base_name(lhs))
            if base_name(lhs) in definitions:
                raise ModelError(f"{base_name(lhs)} is defined twice: {definitions[base_name(lhs)][2]} and {text}")
            assigned.append(base_name(lhs))
            definitions[base_name(lhs)] = (lhs, rhs, text)
        return assigned, definitions

    # -- shapes -----------------------------------------------------------------------------
    def step_shapes(self, names, definitions) -> dict:
        """Each assigned name's shape unified with its definition's; the definitions by name."""
        for name in names:
            self.dims[name] = (self.shapes.fresh(), self.shapes.fresh())
        exprs = {}
        for name in names:
            lhs, rhs, text = definitions[name]
            self.current = text
            shape = self.shape(rhs)
            self.unify_shapes(self.dims[name], shape, f"{name} and its definition")
            exprs[name] = rhs
        return exprs

    def loss_shape(self, loss: LossForm, recurrent: bool, loss_text: str):
        """The loss is a scalar; an abstract loss gives its variable a shape of its own."""
        self.current = loss_text
        if loss.abstract is None:
            shape = self.shape(loss.body)
            if shape is not None:
                self.unify_shapes(shape, (sp.S.One, sp.S.One), "the loss (it must be a scalar)")
        else:
            variable = sp.Symbol(loss.abstract, commutative=False)
            self.shape(sp.IndexedBase(variable)[t] if recurrent else variable)

    def final(self, dims) -> tuple:
        """A shape at the final sizes (a scalar is 1 x 1)."""
        if dims is None:
            return (sp.S.One, sp.S.One)
        return tuple(self.shapes.resolve(d).xreplace(self.names_map) for d in dims)

    # -- the program ------------------------------------------------------------------------
    def program(self, names, exprs, loss: LossForm, recurrent, loss_name) -> LatexModel:
        """The program at the final sizes: assignments, states, loss, parameters and inputs."""
        self.names_map = size_names(self.shapes, self.dims, names, self.sequences)
        final = {name: self.final(dims) for name, dims in self.dims.items()}
        self.check_kinds(final, names, recurrent)
        refuse_reads_ahead(names, exprs)
        convert = Converter(final, self.sequences, recurrent)
        assignments = tuple(Assign(convert.leaf(name, 0), convert(exprs[name])) for name in names)
        assigned = set(names)
        states = initial_states(convert.reads, assigned, final)
        if recurrent and not states:
            raise ModelError("a model indexed by t needs a state read at t-1 (h_t = \\tanh(W h_{t-1} + U x_t)); "
                             "without one, write it without t (o = V x + c, L = \\frac{1}{2}\\|o - y\\|^2)")
        states = self.fix_initial_values(states)
        value = loss.scale * scalar_loss(convert, final, loss, recurrent)
        assignments, value = fuse_log_softmax(assignments, value)
        params, inputs = self.arguments(final, assigned, loss.abstract, recurrent)
        latex = self.latex_names(final, states)
        program = assemble(assignments, params, inputs, value, states, latex)
        refuse_sizes_alone(program)
        labels = {**{r: i for r, i in self.equations.identifiers.items() if r != i},
                  **{f"{s}_0": init.name for s, init in states.items() if isinstance(init, sp.MatrixSymbol)}}
        return LatexModel(program, final, loss_name, loss.step_loss, loss.abstract, self.notes, labels)

    def fix_initial_values(self, states: dict) -> dict:
        """``h_0 = 0`` fixes the initial value of the state h at zero (no argument, no gradient)."""
        states = dict(states)
        for name, (value, text) in self.equations.initial.items():
            if name not in states:
                raise ModelError(f"{text}: {name} is not a state of the model (a state is read at t-1: "
                                 f"{name}_{{t-1}})")
            if value != 0:
                raise ModelError(f"{text}: an initial state is an argument, or fixed at zero ({name}_0 = 0)")
            states[name] = sp.ZeroMatrix(*states[name].shape)
        return states

    def latex_names(self, final: dict, states: dict) -> dict:
        """Each identifier's LaTeX as the model wrote it (an initial state's: the state's with ``_0``)."""
        spellings = {name: grouped(latex) for name, latex in self.equations.spellings.items()}
        out = {name: spellings[name] for name in sorted(final) if name in spellings}
        out.update({init.name: f"{spellings.get(name, name)}_0" for name, init in states.items()
                    if isinstance(init, sp.MatrixSymbol)})
        return out

    def check_kinds(self, final, names, recurrent):
        """Refuse a matrix that came out flat with column vectors (the row layout may fit) and a step
        variable without a time index in a recurrent model."""
        flat = [n for n, d in final.items() if n[:1].isupper() and n not in names and n not in self.sequences
                and n not in self.declarations and self.dims[n] is not None and 1 in d]
        if flat and self.layout == "column":
            raise ShapeMismatchError(f"{', '.join(sorted(flat))} would not be a matrix with column vectors")
        for name in names:
            if recurrent and name not in self.sequences:
                raise ModelError(f"{name} is assigned without a time index in a recurrent model; write {name}_t")

    def arguments(self, final, assigned, abstract, recurrent) -> tuple[list, list]:
        """(parameters, inputs): the symbols not assigned, sequences among them (and a hidden target) inputs."""
        params, inputs = [], []
        for name in sorted(final):
            if name in assigned or name in (HIDDEN_TARGET,):
                continue
            if name in self.sequences:
                inputs.append(TimeVar(name, t, *final[name]))
            else:
                params.append(sp.MatrixSymbol(name, *final[name]))
        if abstract is not None and recurrent:
            inputs.append(TimeVar(HIDDEN_TARGET, t, *final[HIDDEN_TARGET]))
        elif abstract is not None:
            inputs.append(sp.MatrixSymbol(HIDDEN_TARGET, *final[HIDDEN_TARGET]))
        return params, inputs


def grouped(latex: str) -> str:
    """A spelling with a superscript in braces, so that a transpose or a time step can follow it
    (``{W^{(2)}}^\\top``, ``{h^{(1)}}_t``)."""
    return "{" + latex + "}" if "^" in latex else latex


def refuse_reads_ahead(names: list, exprs: dict) -> None:
    """A step reads a value at t only once an earlier equation has assigned it (``h_t = f(h_t)`` has no value;
    a state's own previous value is ``h_{t-1}``)."""
    for i, name in enumerate(names):
        for e in exprs[name].atoms(sp.Indexed):
            if base_name(e) in names[i:] and time_offset(e.indices[0]) == 0:
                raise ModelError(f"{base_name(e)}_t is used in {name} before it is defined "
                                 f"(its value at the previous step is {base_name(e)}_{{t-1}})")


def initial_name(state: str) -> str:
    """The argument of a state's initial value: ``h0`` for ``h``, ``h_1_0`` for ``h_1``."""
    return f"{state}_0" if "_" in state else f"{state}0"


def initial_states(reads: dict, assigned: set, final: dict) -> dict:
    """``h -> h0`` for every assigned variable read at t-1; any other read off t (or t-1) is refused."""
    states = {n: sp.MatrixSymbol(initial_name(n), *final[n]) for n in sorted(reads)
              if n in assigned and reads[n] & {-1}}
    bad = {n: k for n, ks in reads.items() for k in ks if k not in (0, -1) or (k == -1 and n not in assigned)}
    if bad:
        name = sorted(bad)[0]
        later = " (states that run backward in time, as in a bidirectional RNN, are not supported yet)" \
            if bad[name] > 0 else ""
        raise ModelError(f"{name} is read at t{bad[name]:+d}: a step may read its own values at t and a state at "
                         f"t-1{later}")
    return states


def scalar_loss(convert: Converter, final: dict, loss: LossForm, recurrent: bool):
    r"""The loss; an abstract one is ``\frac12\|o - g\|^2`` with the hidden target g (added to ``final``)."""
    if loss.abstract is not None:
        target = (TimeVar(HIDDEN_TARGET, t, *final[loss.abstract]) if recurrent
                  else sp.MatrixSymbol(HIDDEN_TARGET, *final[loss.abstract]))
        final[HIDDEN_TARGET] = final[loss.abstract]
        return sp.Rational(1, 2) * SquaredNorm(convert.leaf(loss.abstract, 0) - target)
    return convert.loss(loss.body)


def assemble(assignments, params, inputs, loss, states, latex_names) -> Program:
    """The program, with SymPy's own shape errors as a :class:`ModelError`."""
    try:
        return Program(name="latex", assignments=assignments, params=tuple(params), inputs=tuple(inputs),
                       loss=loss, states=states, latex_names=latex_names)
    except SymderiveError:
        raise
    except Exception as e:  # SymPy's own shape checks
        raise ModelError(f"the model cannot be built: {e}") from None


def refuse_sizes_alone(program: Program) -> None:
    r"""A size the equations read (``\sqrt{d_k}``) must be the size of some shape, or nothing gives it a value."""
    sizes = {s for a in program.assignments for s in a.expr.free_symbols if is_size(s)}
    alone = sorted(str(s) for s in sizes - set(program.dims()))
    if alone:
        raise ModelError(f"{', '.join(alone)} is read as a size (\\sqrt{{{alone[0]}}}) but no shape has it: declare "
                         f"one (--shape 'Q: N x {alone[0]}'), or scale a product of two matrices (Q K^\\top / "
                         f"\\sqrt{{{alone[0]}}}: the size they contract over)")
