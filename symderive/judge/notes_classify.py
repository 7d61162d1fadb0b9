r"""What each equation of a notes file is: a model equation, a definition, a claim, or other.

* a **model** equation defines a new symbol from known ones: ``h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)``,
  ``h_t = f(x_t, h_{t-1}, w_h)``, ``L = \sum_{t=1}^{T} \ell(o_t, y_t)``;
* a **definition** names a derivative: ``\delta_t = \frac{\partial L}{\partial h_t}``;
* a **claim** has a derivative on the left (``\frac{\partial L}{\partial W} = ...``, ``\partial_{w_h} L = ...``),
  or a name defined as one (``\delta_t = W^\top \delta_{t+1} ...``); each ``=`` of a chain is a step;
* **other** is what is not about the model's derivatives: a probability factorization, an integral, an
  inequality, a statement about functions in general (``\sigma'(x) = \sigma(x)(1 - \sigma(x))``), text the
  reader does not know. It is listed as not checked, with the reason, and is never an error; a formula that does
  not parse (an unclosed bracket, an unknown command) is an error, with the parser's message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp
from sympy.core.function import AppliedUndef

from symderive.errors import LatexParseError, SymderiveError
from symderive.latex.names import base_name, is_variable
from symderive.latex.notes_file import Equation, Side, readable
from symderive.latex.parsed import partial
from symderive.latex.reader import parse_sides

MODEL, DEFINITION, CLAIM, OTHER = "model", "definition", "claim", "other"

#: what marks an equation as not about a model's derivatives, with the reason it is not checked
NOT_CHECKED = (
    (re.compile(r"\\mid\b|\\Pr\b|\\mathbb\s*\{?\s*[EP]\b|(?<![\\\w])[Pp]\s*\("),
     "a probability statement (a distribution, a factorization or an expectation)"),
    (re.compile(r"\\[io]?int\b"), "an integral"),
    (re.compile(r"\\lim\b|\\arg\s*\\?(?:min|max)|\\operatorname\*?\{arg"), "a limit or an optimisation"),
    (re.compile(r"\\[lvc]?dots\b|\\ldots\b|\\cdots\b|\.\.\."), "written with an ellipsis: a statement about any "
                                                                "number of terms"),
)
#: relations other than = (outside braces), which make a statement that is not an equation
RELATION = re.compile(r"\\(?:approx|leq?|geq?|neq?|propto|sim|simeq|in|to|mapsto|Rightarrow|iff|equiv|subset(?:eq)?|"
                      r"ll|gg)(?![A-Za-z])|[<>]")
#: a loss written with its arguments, ``L(x_1, \ldots, w_h)``
LOSS_CALL = re.compile(r"(L|J|\\mathcal\s*\{\s*L\s*\})\s*(?:\\left\s*)?\(.*\)", re.DOTALL)
#: derivative signs: an equation with one is about derivatives, so not reading it is an error, not "other"
DERIVATIVE_SIGNS = re.compile(r"\\partial|\\nabla|\\frac\s*\{\s*d")


@dataclass(frozen=True)
class Reading:
    """An equation of the notes and what it is: ``kind``, its sides parsed (``sides``), why it is not checked
    (``reason``, for other) or why it cannot be read (``error``, for a claim)."""

    equation: Equation
    kind: str
    sides: tuple = ()
    reason: str = ""
    error: str = ""

    @property
    def names(self) -> set:
        """The names of every symbol of every side (``h`` for ``h_{t-1}``)."""
        return {base_name(a) for side in self.sides for a in side.atoms(sp.Symbol, sp.Indexed) if is_variable(a)}


def classify(equation: Equation, adjoints: set) -> Reading:
    """What ``equation`` is; ``adjoints`` are the names defined as derivatives so far (``delta``)."""
    equation = loss_without_arguments(equation)
    text = equation.text
    reason = not_checked_reason(text, len(equation.sides))
    if reason:
        return Reading(equation, OTHER, reason=reason)
    try:
        sides = tuple(parse_one(side.text) for side in equation.sides)
    except LatexParseError as e:  # a typo (an unclosed bracket, an unknown command) is an error, never other
        return Reading(equation, CLAIM if DERIVATIVE_SIGNS.search(text) else OTHER, error=f"cannot be read: {e}")
    except SymderiveError as e:
        if DERIVATIVE_SIGNS.search(text):
            return Reading(equation, CLAIM, error=f"cannot be read: {e}")
        return Reading(equation, OTHER, reason=f"not read as a model's mathematics ({first_line(e)})")
    return Reading(equation, kind_of(sides, adjoints), sides, reason=reason_of(sides, adjoints))


def loss_without_arguments(equation: Equation) -> Equation:
    r"""``L(x_1, \ldots, x_T, w_h) = \frac{1}{T}\sum_t l(y_t, o_t)`` (d2l writes the loss with its arguments) as
    ``L = ...``."""
    first = equation.sides[0]
    match = LOSS_CALL.fullmatch(first.text)
    if len(equation.sides) < 2 or not match:
        return equation
    return Equation((Side(first.line, match.group(1)), *equation.sides[1:]))


def not_checked_reason(text: str, count: int) -> str:
    """Why an equation is other by its text alone ("" when it may be checked)."""
    if RELATION.search(outside_braces(text)):
        return "a relation other than = (an inequality, an approximation, a membership)"
    for pattern, reason in NOT_CHECKED:
        if pattern.search(text):
            return reason
    return "" if count > 1 else "not an equation (no =)"


def parse_one(text: str):
    """The one expression a side reads as (``\\delta_{i,j}`` as the entry of a tensor delta, not Kronecker's)."""
    read = parse_sides(readable(text))
    if len(read) != 1:
        raise SymderiveError(f"expected one expression, got {len(read)}: {text}")
    return read[0].replace(sp.KroneckerDelta, lambda *ij: sp.IndexedBase(sp.Symbol("delta", commutative=False))[ij])


def kind_of(sides: tuple, adjoints: set) -> str:
    """The kind of a readable equation from its first two sides."""
    lhs, rhs = sides[0], sides[1]
    if isinstance(lhs, partial):
        return CLAIM
    if not is_variable(lhs):
        return OTHER
    if isinstance(rhs, partial):
        return DEFINITION
    if base_name(lhs) in adjoints:
        return CLAIM
    if rhs.has(partial):
        return OTHER
    return MODEL


def reason_of(sides: tuple, adjoints: set) -> str:
    """Why a readable equation is other ("" when it is not)."""
    if kind_of(sides, adjoints) != OTHER:
        return ""
    lhs = sides[0]
    if isinstance(lhs, AppliedUndef) or isinstance(lhs, sp.Function):
        return f"a statement about a function in general ({type(lhs).__name__}(...)), not about a model's values"
    if is_variable(lhs):
        return ("names an expression with derivatives in it; a definition names one derivative "
                r"(\delta_t = \frac{\partial L}{\partial h_t})")
    return "the left side is neither a name nor a derivative"


def outside_braces(text: str) -> str:
    """``text`` without what is inside braces (subscripts, superscripts, arguments)."""
    out, depth = [], 0
    for c in text:
        depth += c == "{"
        if depth == 0:
            out.append(c)
        depth -= c == "}" and depth > 0
    return "".join(out)


def first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
