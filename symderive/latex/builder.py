r"""The builder: parsed model equations -> a :class:`~symderive.model.Program` with inferred shapes.

A symbol subscripted by ``t`` on a left-hand side is a sequence assigned at each step, one read at ``t-1``
is a recurrent state (its initial value ``h_0`` an argument), every other symbol on a right-hand side is
an argument (a weight, or data such as ``x_t``). The last equation defines the scalar loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import ModelError, ShapeMismatchError, SymderiveError
from symderive.latex.converter import Converter
from symderive.latex.names import base_name, is_variable, time_offset
from symderive.latex.shapes import ShapeInference
from symderive.latex.words import LOSS_NAMES
from symderive.model.program import Assign, Program
from symderive.ops.nodes import SquaredNorm, T, TimeVar, t

#: the hidden random target ``g`` of an abstract loss ``\ell(o) = \frac12\|o - g\|^2``
HIDDEN_TARGET = "g_ell"


@dataclass
class LatexModel:
    """A model read from LaTeX: its program, the sizes it was inferred at, and how names map."""

    program: Program
    dims: dict            # name -> (rows, cols) as size expressions (or None for a scalar)
    loss_name: str        # "L"
    step_loss: str | None  # "ell" when the per-step loss has a name
    abstract_loss: str | None  # the variable an abstract ell(o_t, ...) depends on
    notes: list = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return sorted(n for n in self.dims if n != HIDDEN_TARGET)


class Builder(ShapeInference):
    """One attempt at building the model, in one layout of vectors ("column" or "row")."""

    def __init__(self, equations, declarations, layout):
        super().__init__(declarations, layout)
        self.equations = equations
        self.notes: list = []

    # -- which symbol is what --------------------------------------------------------------
    def build(self) -> LatexModel:
        """Steps, then the loss: their shapes inferred, then the program."""
        *steps, (loss_lhs, loss_rhs, loss_text) = self.equations
        if not is_variable(loss_lhs) or isinstance(loss_lhs, sp.Indexed):
            raise ModelError(f"the last equation defines the loss and its left side must be one symbol: {loss_text}")
        assigned, definitions = self.definitions(steps)
        if base_name(loss_lhs) in definitions:
            raise ModelError(f"{base_name(loss_lhs)} is defined twice: {definitions[base_name(loss_lhs)][2]} "
                             f"and {loss_text} (the last equation defines the loss)")
        recurrent = bool(self.sequences) or loss_rhs.has(sp.Sum)
        step_loss, abstract, loss_body = self.loss_body(loss_rhs, definitions, recurrent, loss_text)
        names = [n for n in assigned if n != step_loss]
        self.assigned = names
        exprs = self.step_shapes(names, definitions)
        self.loss_shape(loss_body, abstract, recurrent, loss_text)
        return self.program(names, exprs, loss_body, abstract, recurrent, loss_lhs, step_loss)

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

    def loss_body(self, rhs, definitions, recurrent, text):
        """(name of the per-step loss, the variable of an abstract loss, the loss of one step)."""
        body = step_term(rhs, recurrent, text)
        if body.atoms(sp.Function) and any(type(f).__name__ in LOSS_NAMES for f in body.atoms(sp.Function)):
            call = next(f for f in body.atoms(sp.Function) if type(f).__name__ in LOSS_NAMES)
            if not call.args or not is_variable(call.args[0]):
                raise ModelError(rf"an abstract loss is written \ell(o_t, y_t) with the output first (got: {text})")
            return type(call).__name__, base_name(call.args[0]), None
        if is_variable(body) and base_name(body) in LOSS_NAMES:
            return self.named_step_loss(base_name(body), definitions, recurrent)
        return None, None, body

    def named_step_loss(self, step_loss, definitions, recurrent):
        r"""``\ell_t`` as an earlier equation defines it, or (undefined) an abstract loss of the last step variable."""
        if step_loss in definitions:
            body = definitions[step_loss][1]
            calls = [f for f in body.atoms(sp.Function) if type(f).__name__ in LOSS_NAMES]
            if calls:
                return step_loss, base_name(calls[0].args[0]), None
            return step_loss, None, body
        last = [n for n in definitions if n in self.sequences or not recurrent][-1:]
        if not last:
            raise ModelError(rf"the loss {step_loss} is not defined; define it (\ell_t = ...) or write \ell(o_t, y_t)")
        self.notes.append(rf"\{step_loss}_t is not defined: it is taken as an abstract loss of {last[0]}")
        return step_loss, last[0], None

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

    def loss_shape(self, loss_body, abstract, recurrent, loss_text):
        """The loss is a scalar; an abstract loss gives its variable a shape of its own."""
        self.current = loss_text
        if abstract is None:
            loss_shape = self.shape(loss_body)
            if loss_shape is not None:
                self.unify_shapes(loss_shape, ("1", "1"), "the loss (it must be a scalar)")
        else:
            self.shape(sp.Indexed(sp.IndexedBase(sp.Symbol(abstract, commutative=False)), t) if recurrent
                       else sp.Symbol(abstract, commutative=False))

    def size_names(self) -> dict:
        """Unknown sizes left after unification -> readable names (n_h: the length of h)."""
        out, used = {}, {str(s) for dims in self.dims.values() if dims for d in dims
                         for s in self.shapes.resolve(d).free_symbols if not s.name.startswith("_u")}
        assigned = getattr(self, "assigned", ())
        for name in sorted(self.dims, key=lambda n: (n[:1].isupper(), n not in assigned, n)):
            dims = self.dims[name]
            resolved = [self.shapes.resolve(d) for d in dims or ()]
            for axis, d in enumerate(resolved):
                for u in sorted(d.free_symbols, key=str):
                    if u.name.startswith("_u") and u not in out:
                        candidate = size_name(name, axis, resolved, used)
                        used.add(candidate)
                        out[u] = sp.Symbol(candidate, integer=True, positive=True)
        return out

    def final(self, dims):
        if dims is None:
            return None
        names = self.names_map
        return tuple(self.shapes.resolve(d).xreplace(names) for d in dims)

    # -- the program ------------------------------------------------------------------------
    def program(self, names, exprs, loss_body, abstract, recurrent, loss_lhs, step_loss) -> LatexModel:
        """The program at the final sizes: assignments, states, loss, parameters and inputs."""
        self.names_map = self.size_names()
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
        loss = scalar_loss(convert, final, loss_body, abstract, recurrent)
        params, inputs = self.arguments(final, assigned, abstract, recurrent)
        program = assemble(assignments, params, inputs, loss, states)
        return LatexModel(program, final, base_name(loss_lhs), step_loss, abstract, self.notes)

    def check_kinds(self, final, names, recurrent):
        """Refuse a matrix that came out flat with column vectors (the row layout may fit), scalar parameters,
        and a step variable without a time index in a recurrent model."""
        flat = [n for n, d in final.items() if n[:1].isupper() and n not in names and n not in self.sequences
                and n not in self.declarations and d is not None and 1 in d]
        if flat and self.layout == "column":
            raise ShapeMismatchError(f"{', '.join(sorted(flat))} would not be a matrix with column vectors")
        scalars = [n for n, d in final.items() if d is None]
        if scalars:
            raise ModelError(f"scalar parameters ({', '.join(sorted(scalars))}) are not supported in a model; "
                             "write their value as a number, or declare their shape with --shape")
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


def step_term(rhs, recurrent: bool, text: str):
    r"""The loss of one step: the body of ``\sum_{t=1}^{T}`` in a recurrent model, else the whole loss."""
    if not recurrent:
        return rhs
    if not (isinstance(rhs, sp.Sum) and rhs.limits[0][0] == t and rhs.limits[0][1] == 1 and rhs.limits[0][2] == T):
        raise ModelError(rf"a recurrent model's loss is written L = \sum_{{t=1}}^{{T}} \ell_t (got: {text})")
    return rhs.function


def refuse_reads_ahead(names: list, exprs: dict) -> None:
    """A step reads a value at t only once an earlier equation has assigned it (``h_t = f(h_t)`` has no value;
    a state's own previous value is ``h_{t-1}``)."""
    for i, name in enumerate(names):
        for e in exprs[name].atoms(sp.Indexed):
            if base_name(e) in names[i:] and time_offset(e.indices[0]) == 0:
                raise ModelError(f"{base_name(e)}_t is used in {name} before it is defined "
                                 f"(its value at the previous step is {base_name(e)}_{{t-1}})")


def size_name(name: str, axis: int, resolved: list, used: set) -> str:
    """An unused readable name for a size of ``name``: ``n_h`` for a vector's length, ``n_W_r``/``n_W_c`` for a
    matrix's."""
    label = name.replace("^", "").replace("(", "").replace(")", "").replace("'", "p")
    candidate = f"n_{label}" if resolved[1 - axis] == 1 else f"n_{label}_{'rc'[axis]}"
    while candidate in used:
        candidate += "_"
    return candidate


def initial_states(reads: dict, assigned: set, final: dict) -> dict:
    """``h -> h_0`` for every assigned variable read at t-1; any other read off t (or t-1) is refused."""
    states = {n: sp.MatrixSymbol(f"{n}_0", *final[n]) for n in sorted(reads) if n in assigned and reads[n] & {-1}}
    bad = {n: k for n, ks in reads.items() for k in ks if k not in (0, -1) or (k == -1 and n not in assigned)}
    if bad:
        name = sorted(bad)[0]
        raise ModelError(f"{name} is read at t{bad[name]:+d}: a step may read its own values at t and a state at t-1")
    return states


def scalar_loss(convert: Converter, final: dict, loss_body, abstract, recurrent: bool):
    r"""The loss; an abstract one is ``\frac12\|o - g\|^2`` with the hidden target g (added to ``final``)."""
    if abstract is not None:
        target = (TimeVar(HIDDEN_TARGET, t, *final[abstract]) if recurrent
                  else sp.MatrixSymbol(HIDDEN_TARGET, *final[abstract]))
        final[HIDDEN_TARGET] = final[abstract]
        return sp.Rational(1, 2) * SquaredNorm(convert.leaf(abstract, 0) - target)
    return convert.loss(loss_body)


def assemble(assignments, params, inputs, loss, states) -> Program:
    """The program, with SymPy's own shape errors as a :class:`ModelError`."""
    try:
        return Program(name="latex", assignments=assignments, params=tuple(params), inputs=tuple(inputs),
                       loss=loss, states=states)
    except SymderiveError:
        raise
    except Exception as e:  # SymPy's own shape checks
        raise ModelError(f"the model cannot be built: {e}") from None
