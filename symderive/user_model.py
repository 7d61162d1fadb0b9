r"""A user's model written in LaTeX, made into what :func:`symderive.derive` turns into a Derivation.

The forward equations (``z = W x + b``, ``a = \sigma(z)``, ``L = \frac{1}{2}\|a - y\|^2``; a list, or one
string with ``;`` or ``\\`` between equations) are read by :func:`symderive.latex.model.build_model` with the
shape declarations ``shapes`` (``{"W": "n x d", "w": 1}`` or ``["W: n x d"]``). Definitions ``where`` serve
twice: one that names an adjoint, ``\delta_t = \frac{\partial L}{\partial h_t}``, names it in the document
and the exported module's docstring (``\delta_{t}`` for ``\bar{h}_{t}``); every definition may be used in
the claims that :meth:`~symderive.pipeline.Derivation.check` judges.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from symderive.errors import ModelError, OptionError
from symderive.index.program import IndexProgram
from symderive.index.user import user_index_engine
from symderive.latex.index_model import build_index_model, looks_index_level
from symderive.latex.model import build_model, read_model_text
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import partial
from symderive.latex.reader import parse_sides
from symderive.matrix.latex_printer import latex_identifier
from symderive.model.program import Program, arguments, is_fixed, key

DEFAULT_NAME = "model"
NAME = re.compile(r"\w[\w .-]{0,79}")  # it titles the document and opens the module's docstring


@dataclass(frozen=True)
class UserModel:
    """A model read from LaTeX: its ``program`` (named, adjoints named by ``where``), and the equations,
    shape declarations and definitions claims about it are judged with."""

    program: Program
    equations: tuple[str, ...]
    declared: tuple[str, ...]
    where: tuple[str, ...]

    def judge_claims(self, claims, where=()) -> list:
        """The verdicts on ``claims`` about this model (its definitions, then ``where``, usable in them)."""
        return judge(claims, [*self.where, *as_texts(where, "where")], model=list(self.equations),
                     shapes=list(self.declared))


def as_texts(value, what: str) -> list[str]:
    """One string as a list of one; a sequence of strings as a list; anything else is refused."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ModelError(f"{what} is a LaTeX string or a list of them, not {type(value).__name__}")


def declarations(shapes) -> list[str]:
    """``['W: n x d', 'w: 1']`` from ``{"W": "n x d", "w": 1}`` or from such a list."""
    if isinstance(shapes, Mapping):
        return [f"{name}: {spec}" for name, spec in shapes.items()]
    return as_texts(shapes, "shapes")


def read_user_model(model, where=(), shapes=None, name: str = DEFAULT_NAME) -> UserModel:
    """The program of the LaTeX ``model`` (a list of equations, or one text read as a model file: one equation a
    line or an ``align`` block) named ``name``, its adjoints named by the definitions ``where``."""
    equations = read_model_text(model) if isinstance(model, str) else as_texts(model, "model")
    declared, definitions = declarations(shapes), as_texts(where, "where")
    check_name(name)
    read = build_model(equations, declared)
    program = read.program
    names = {**own_spellings(program.latex_names), **adjoint_names(program, definitions, read.loss_name)}
    program = dataclasses.replace(program, name=name, latex_names=names)
    return UserModel(program, tuple(equations), tuple(declared), tuple(definitions))


def check_name(name) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ModelError(f"a model's name is up to 80 letters, digits, spaces, '_', '-' and '.', starting with a "
                         f"letter, digit or '_' (it titles the document and the module), not {name!r}")


def own_spellings(latex_names: dict) -> dict:
    r"""The identifiers whose LaTeX the default rule does not write (``y_hat`` as ``\hat{y}``, not ``W_hh`` as
    ``W_{hh}``): those the printer writes by the rule, which also sets them in bold when asked."""
    return {name: latex for name, latex in latex_names.items() if plain(latex) != plain(latex_identifier(name))}


def plain(latex: str) -> str:
    """LaTeX without braces and spaces (``W_{hh}`` and ``W_hh`` are one spelling)."""
    return "".join(c for c in latex if c not in "{} ")


def adjoint_names(program: Program, definitions: list[str], loss: str) -> dict:
    r"""``{"d_h": r"\delta"}`` for each definition ``\delta_t = \frac{\partial L}{\partial h_t}`` of an
    adjoint of the model; definitions of anything else are left to the claims."""
    values = {key(v) for v in (*arguments(program), *(a.target for a in program.assignments))}
    initial = {state: init.name for state, init in program.states.items() if not is_fixed(init)}  # h_0: h0
    names = {}
    for text in definitions:
        sides = parse_sides(text)
        if len(sides) != 2 or not is_variable(sides[0]):
            raise ModelError(rf"a definition is 'NAME = EXPRESSION' (\delta_t = ...): {text}")
        named = adjoint_of(sides[1], loss, values, initial)
        if named is not None:
            names[f"d_{named}"] = sp.latex(sp.Symbol(base_name(sides[0])))
    return names


def adjoint_of(rhs, loss: str, values: set, initial: dict) -> str | None:
    r"""The model value ``v`` of ``rhs`` = ``\frac{\partial L}{\partial v}`` (``L`` the ``loss``; ``h_0``
    the initial state), else None."""
    if not isinstance(rhs, partial) or not all(is_variable(a) for a in rhs.args) or base_name(rhs.args[0]) != loss:
        return None
    wrt = rhs.args[1]
    name = base_name(wrt)
    if isinstance(wrt, sp.Indexed) and wrt.indices == (0,) and name in initial:
        name = initial[name]
    return name if name in values else None


def is_index_level(model) -> bool:
    """An :class:`~symderive.index.program.IndexProgram`, or LaTeX equations written entry by entry
    (``h_i = \\sigma(\\sum_j V_j x_{i+j-1})``, ``Y_{o,i,j} = ...``)."""
    if isinstance(model, IndexProgram):
        return True
    if isinstance(model, str) or (isinstance(model, Sequence) and all(isinstance(m, str) for m in model)):
        return looks_index_level(read_model_text(model) if isinstance(model, str) else list(model))
    return False


def index_fields(model, where=(), shapes=None, ranges=None, sizes=None, fields=None) -> dict:
    r"""The fields of the :class:`~symderive.pipeline.Derivation` of an index-level model: an IndexProgram
    built in Python (its ``derived_sizes`` name formulas of sizes, its ``options`` are ``(size, default)``
    pairs of the exported keywords), or LaTeX equations read by
    :func:`~symderive.latex.index_model.build_index_model` with ``shapes`` (``['X: C x H x W']``) and
    ``ranges`` (``['i: 1..m']``). ``sizes``: where the checks run (:func:`~symderive.index.user.user_index_engine`)."""
    fields = dict(fields or {})
    name = fields.pop("name", None)
    if isinstance(model, IndexProgram):
        if where or shapes or ranges:
            raise OptionError("where, shapes and ranges belong to a model in LaTeX; an IndexProgram has its own")
        program = model
    else:
        equations = read_model_text(model) if isinstance(model, str) else as_texts(model, "model")
        check_name(name or DEFAULT_NAME)
        program = build_index_model(equations, declarations(shapes), as_texts(ranges, "ranges"),
                                    name=name or DEFAULT_NAME).program
        fields.setdefault("judge_claims", lambda claims, more=(): judge(
            claims, [*as_texts(where, "where"), *as_texts(more, "where")], model=equations,
            shapes=declarations(shapes), ranges=as_texts(ranges, "ranges")))
    defaults = {str(k): v for k, v in program.options}
    engine, reference = user_index_engine(program, sizes, program.derived_sizes, defaults)
    fields.setdefault("torch_reference", reference)
    return {"name": name or program.name, "engine": engine, **fields}


def judge(claims, where=(), **subject) -> list:
    """:func:`symderive.judge.check.check` of ``claims`` with the definitions ``where`` about ``subject``
    (``derivation=...``, or ``model=...`` with ``shapes=...``)."""
    # Imported here: symderive.judge.check imports the built-in derivations, which import symderive, whose
    # import of symderive.pipeline imports this module.
    from symderive.judge.check import check
    return check(claims=claims, where=where, **subject)
