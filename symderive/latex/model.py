r"""From parsed LaTeX equations to a model program the engine derives.

The forward equations (``z = W x + b``, ``h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)``) become a
:class:`~symderive.model.Program`: a symbol subscripted by ``t`` on a left-hand side is a sequence
assigned at each step, one read at ``t-1`` is a recurrent state (its initial value ``h_0`` an
argument), every other symbol on a right-hand side is an argument (a weight, or data such as ``x_t``).
The last equation defines the scalar loss: ``L = \sum_{t=1}^{T} \ell_t`` for recurrent models, where
``\ell_t`` is defined by an earlier equation or stays abstract (``\ell(o_t, y_t)``: then it is taken as
``\frac12\|o_t - g_t\|^2`` with a hidden random ``g_t``, so that ``\partial\ell_t/\partial o_t`` is an
arbitrary vector and a claim must hold for every value of it).

Shapes are inferred by unification (:mod:`symderive.latex.shapes`): ``A B`` needs cols(A) = rows(B);
``a + b`` and ``a \odot b`` need equal shapes; a transpose swaps. ``--shape`` declarations fix sizes;
otherwise an upper-case letter is a matrix, a lower-case letter a vector (a column, or a row when the
equations only fit rows: ``X_t W_{xh} + H_{t-1} W_{hh}``), an unassigned lower-case Greek letter a scalar.
The program is built by :class:`~symderive.latex.builder.Builder`, its expressions converted by
:class:`~symderive.latex.converter.Converter`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from symderive.errors import LatexParseError, ModelError, ShapeMismatchError
from symderive.latex.builder import Builder, LatexModel
from symderive.latex.identifiers import identifier, identifiers_of, rename_symbols
from symderive.latex.names import base_name, is_variable, relabel
from symderive.latex.reader import parse_sides
from symderive.latex.rewrites import rewrite
from symderive.latex.shapes import needs_more_than_scalars, read_declarations
from symderive.latex.spelling import written_names

#: the layouts a model is read in, in order: every undeclared symbol a scalar, column vectors, row vectors
LAYOUTS = ("scalar", "column", "row")


@dataclass(frozen=True)
class Equations:
    """A model's equations, read: ``(lhs, rhs, text)`` each, in the model's identifiers; the initial values
    fixed by ``h_0 = ...`` (state identifier -> (rhs, text)); the reader's names -> identifiers; and the
    LaTeX each identifier was written as."""

    steps: list
    initial: dict
    identifiers: dict
    spellings: dict


def build_model(texts: list[str], declared: list[str] = ()) -> LatexModel:
    """The program of the model equations ``texts`` with the shape declarations ``declared``: every
    undeclared symbol a scalar when the equations allow it, else column vectors, else row vectors."""
    equations = read_equations(texts)
    if not equations.steps:
        raise ModelError("give the model's equations with --model (the last one defines the loss)")
    declarations = {equations.identifiers.get(k, k): v for k, v in read_declarations(list(declared)).items()}
    errors = {}
    for layout in layouts(equations, declarations):
        try:
            model = Builder(equations, declarations, layout).build()
        except ShapeMismatchError as e:
            errors[layout] = e
            continue
        refuse_unknown_declarations(declarations, model)
        return model
    raise errors["column"]  # the reading of vectors as columns names the mismatch most people expect


def layouts(equations: Equations, declarations: dict) -> tuple:
    """The layouts to try: the scalar one only when no equation needs more than scalars (a transpose, a norm,
    an entrywise product, a concatenation, ...) and no undeclared symbol is an upper-case letter (a matrix,
    by the usual convention)."""
    *steps, (loss, rhs, _) = equations.steps
    sides = [e for lhs, rhs, _ in steps for e in (lhs, rhs)] + [rhs]
    names = {base_name(e) for side in sides for e in side.atoms(sp.Symbol, sp.Indexed) if is_variable(e)}
    matrices = [n for n in names if n[:1].isupper() and n not in declarations]
    return LAYOUTS[1:] if matrices or any(needs_more_than_scalars(e) for e in sides) else LAYOUTS


def refuse_unknown_declarations(declarations: dict, model: LatexModel) -> None:
    """A declared shape must name a symbol of the model (a misspelt name would be silently ignored)."""
    unknown = sorted(set(declarations) - set(model.names))
    if unknown:
        raise ModelError(f"a shape is declared for {', '.join(unknown)}, which the model does not use; "
                         f"the model's symbols are: {', '.join(model.names)}")


def read_equations(texts: list[str]) -> Equations:
    """Every ``lhs = rhs`` of the options (several per option separated by ``\\\\`` or ``;``), read in the
    model's identifiers; ``h_0 = 0`` fixes the initial value of the state h."""
    read, spellings = [], {}
    for text in texts:
        for part in split_equations(text):
            sides = parse_sides(part)
            if len(sides) != 2:
                raise LatexParseError("each model equation is 'LEFT = RIGHT'", part, 0)
            lhs, rhs = (rewrite(side) for side in sides)
            read.append((lhs, relabel(rhs), part))
            for name, latex in written_names(part):
                refuse_second_spelling(name, spellings.setdefault(name, latex), latex)
    steps, initial = split_initial_values(read)
    names = {s.name for lhs, rhs, _ in steps for e in (lhs, rhs) for s in e.atoms(sp.Symbol) if is_variable(s)}
    names |= {base_name(lhs) for lhs in initial}
    identifiers = identifiers_of(names)
    renamed = [(rename_symbols(lhs, identifiers), rename_symbols(rhs, identifiers), text) for lhs, rhs, text in steps]
    initial = {identifiers[base_name(lhs)]: (rename_symbols(rhs, identifiers), text)
               for lhs, (rhs, text) in initial.items()}
    latex = {identifiers[name]: spellings.get(name, name) for name in identifiers}
    return Equations(renamed, initial, identifiers, latex)


def refuse_second_spelling(name: str, first: str, latex: str) -> None:
    """One symbol is written one way (``\\mathbf{W}`` and ``W`` in one model are refused, naming both);
    spaces and braces do not count (``\\hat y`` is ``\\hat{y}``)."""
    def normal(text):
        return re.sub(r"[\s{}]", "", text)
    if normal(first) != normal(latex):
        raise ModelError(f"{first} and {latex} would both be named {identifier(name)}; write the symbol one way")


def split_initial_values(read: list) -> tuple[list, dict]:
    """(the step equations with their left sides relabelled, {h_0: (value, text)} of the initial values)."""
    steps, initial = [], {}
    for lhs, rhs, text in read:
        if isinstance(lhs, sp.Indexed) and len(lhs.indices) == 1 and lhs.indices[0] == 0:
            initial[lhs] = (rhs, text)
        else:
            steps.append((relabel(lhs), rhs, text))
    return steps, initial


def split_equations(text: str) -> list[str]:
    """``text`` split at ``;`` and ``\\\\`` outside every bracket."""
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        c = text[i]
        depth += c in "{(["
        depth -= c in "})]"
        if depth == 0 and (c == ";" or text.startswith(r"\\", i)):
            parts.append(text[start:i])
            i += 2 if c == "\\" else 1
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


#: LaTeX environments a model file may put its equations in
ENVIRONMENTS = ("align", "align*", "aligned", "equation", "equation*", "gather", "gather*", "split", "alignat",
                "alignat*", "eqnarray", "eqnarray*")
#: what a model file may write that carries no meaning for the model
DECORATIONS = (r"\nonumber", r"\notag", "$$", r"\[", r"\]", "&")


def read_model_text(text: str) -> list[str]:
    r"""The equations of a model file: one per line, or in a LaTeX ``align``/``align*``/``aligned``/``equation``
    block (``&=``, ``\\`` between lines, ``\nonumber``, ``\label{...}``, ``%`` comments and blank lines
    allowed; inside a block, an equation may run over several lines); a ``,`` or ``.`` ending an equation is
    punctuation."""
    if not isinstance(text, str):
        raise LatexParseError(f"expected the text of a model file, got {type(text).__name__}")
    lines = [without_comment(line) for line in text.splitlines()]
    block = any(re.search(r"\\begin\s*\{", line) for line in lines)
    body = (" " if block else " \n ").join(lines)
    body = re.sub(r"\\label\s*\{[^{}]*\}", " ", body)
    body = re.sub(r"\\(begin|end)\s*\{(" + "|".join(re.escape(e) for e in ENVIRONMENTS) + r")\}", " ", body)
    for decoration in DECORATIONS:
        body = body.replace(decoration, " ")
    equations = []
    for line in body.split("\n"):
        equations += [part.strip().rstrip(",.").strip() for part in split_equations(line)]
    return [e for e in equations if e]


def without_comment(line: str) -> str:
    """``line`` without a ``%`` comment (an escaped ``\\%`` is kept)."""
    match = re.search(r"(?<!\\)%", line)
    return line[:match.start()] if match else line
