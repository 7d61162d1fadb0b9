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

from symderive.errors import LatexParseError, ModelError, ShapeMismatchError
from symderive.latex.builder import Builder, LatexModel
from symderive.latex.names import relabel
from symderive.latex.reader import parse_sides
from symderive.latex.shapes import read_declarations


def build_model(texts: list[str], declared: list[str] = ()) -> LatexModel:
    """The program of the model equations ``texts`` with the shape declarations ``declared``
    (column vectors first; row vectors when the column layout does not fit)."""
    equations = read_equations(texts)
    if not equations:
        raise ModelError("give the model's equations with --model (the last one defines the loss)")
    declarations = read_declarations(list(declared))
    errors = []
    for layout in ("column", "row"):
        try:
            model = Builder(equations, declarations, layout).build()
        except ShapeMismatchError as e:
            errors.append(e)
            continue
        refuse_unknown_declarations(declarations, model)
        return model
    raise errors[0]


def refuse_unknown_declarations(declarations: dict, model: LatexModel) -> None:
    """A declared shape must name a symbol of the model (a misspelt name would be silently ignored)."""
    unknown = sorted(set(declarations) - set(model.names))
    if unknown:
        raise ModelError(f"a shape is declared for {', '.join(unknown)}, which the model does not use; "
                         f"the model's symbols are: {', '.join(model.names)}")


def read_equations(texts: list[str]) -> list[tuple]:
    """Every ``lhs = rhs`` of the options (several per option separated by ``\\\\`` or ``;``)."""
    out = []
    for text in texts:
        for part in split_equations(text):
            sides = parse_sides(part)
            if len(sides) != 2:
                raise LatexParseError("each model equation is 'LEFT = RIGHT'", part, 0)
            out.append((relabel(sides[0]), relabel(sides[1]), part))
    return out


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
