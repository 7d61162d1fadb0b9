r"""Index-level claims printed back in the model's notation: ``\sum_{i=1}^{m} \delta_{i} \sigma'\left(z_{i}\right)
x_{i + j - 1}`` (the corrected formula of a diagnosis)."""
from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

from symderive.latex.indexed import tensor_latex
from symderive.latex.parsed import DOT_ARGUMENT, ONES, partial
from symderive.latex.words import activation_of
from symderive.ops.registry import ACTIVATIONS


class IndexClaimPrinter(LatexPrinter):
    """Entries ``x_{i + j - 1}``, sums with their bounds as written (``\\sum_{c}`` when written without),
    functions of the op table with their primes, names as the model spells them (``names``: reader name ->
    LaTeX)."""

    def __init__(self, names: dict, implicit=frozenset()):
        super().__init__({"order": "none"})
        self.names, self.implicit = names, implicit

    def name(self, name: str) -> str:
        return self.names.get(name) or tensor_latex(name)

    def _print_Symbol(self, e, style="plain"):
        if e == DOT_ARGUMENT:
            return r"\cdot"
        if e == ONES:
            return r"\mathbb{1}"
        return self.name(e.name)

    def _print_Indexed(self, e):
        return f"{self.name(e.base.label.name)}_{{{', '.join(index_text(i, self) for i in e.indices)}}}"

    def _print_KroneckerDelta(self, e, exp=None):
        return rf"\delta_{{{index_text(e.args[0], self)},\, {index_text(e.args[1], self)}}}"

    def _print_Sum(self, e):
        head, letters = "", []
        for v, lo, hi in reversed(e.limits):
            if v.name in self.implicit:  # \sum_{c,p,q}: letters without bounds written together
                letters.append(v.name)
                continue
            head += rf"\sum_{{{','.join(letters)}}} " if letters else ""
            letters = []
            head += rf"\sum_{{{v.name}={index_text(lo, self)}}}^{{{index_text(hi, self)}}} "
        head += rf"\sum_{{{','.join(letters)}}} " if letters else ""
        body = self._print(e.function)
        return head + (rf"\left({body}\right)" if isinstance(e.function, sp.Add) else body)

    def _print_Function(self, e, exp=None):
        if isinstance(e, partial):
            return rf"\frac{{\partial {self._print(e.args[0])}}}{{\partial {self._print(e.args[1])}}}"
        name = type(e).__name__
        base = name.rstrip("'")
        fname = activation_of(base)
        head = ACTIVATIONS[fname].latex if fname else rf"\operatorname{{{base}}}"
        args = ", ".join(self._print(a) for a in e.args)
        return head + "'" * (len(name) - len(base)) + rf"\left({args}\right)"


def index_text(e, printer: IndexClaimPrinter) -> str:
    """An index ``i + j - 1``: letters with a plus sign first, then the others, the number last."""
    e = sp.expand(e)
    if not isinstance(e, sp.Add):
        return term_text(e, printer)
    terms = sorted(e.args, key=lambda t: (t.is_number, t.could_extract_minus_sign(), sp.default_sort_key(t)))
    out = term_text(terms[0], printer)
    for t in terms[1:]:
        text = term_text(-t if t.could_extract_minus_sign() else t, printer)
        out += f" - {text}" if t.could_extract_minus_sign() else f" + {text}"
    return out


def term_text(t, printer: IndexClaimPrinter) -> str:
    if t.is_number:
        return str(t)
    if isinstance(t, sp.Mul):
        coeff, rest = t.as_coeff_Mul()
        sign = "-" if coeff < 0 else ""
        factors = " ".join(printer._print(f) for f in sp.Mul.make_args(rest))
        return sign + (f"{abs(coeff)} " if abs(coeff) != 1 else "") + factors
    return printer._print(t)


def claim_latex(lhs_text: str, rhs, names: dict, implicit=frozenset()) -> str:
    """``LHS = RHS`` with the right side printed in the model's notation."""
    return f"{lhs_text} = {IndexClaimPrinter(names, implicit).doprint(rhs)}"
