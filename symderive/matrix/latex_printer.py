"""LaTeX for model expressions and derivation documents (LaTeX ``align*``, Markdown, standalone .tex).

``DerivationPrinter`` is a SymPy ``LatexPrinter`` with a ``_print_<Class>`` method per node:
``a \\odot b``, ``W^\\top``, ``\\operatorname{diag}(v)``, ``\\tanh(z)``, ``\\sum_{t=1}^{T}``, and
identifiers spelled through ``latex_names`` (``dh -> \\delta``) or the default rule
``W_hh -> W_{hh}``, ``h0 -> h_{0}``, adjoint ``dz -> \\bar{z}``. ``bold`` sets vectors and
matrices in bold. ``layout="row"`` prints every expression in the row-vector convention (``x_t W``
rather than ``W x_t``; see ``row_form``). Output is deterministic: the same expression always prints
the same string.

SymPy sorts the factors of an entrywise product by its canonical key (``c_{t-1} \\odot f_t``); they print
in the order people write them instead (:func:`arrange_factors`):

1. the error signal: an adjoint, or the residual of the target the loss compares with (``\\bar a \\odot ...``,
   ``(a - y) \\odot ...``);
2. a weight standing alone, an argument of the model (``\\gamma \\odot \\hat x``);
3. the other factors by the values they hold, in the order the model defines them, so gates come before what
   they gate (``f_t \\odot c_{t-1}``, ``i_t \\odot g_t``, ``(1 - z_t) \\odot n_t``, ``r_t \\odot (W_{hn} h_{t-1} +
   b_{hn})``) and an expression of an adjoint comes by what it scales (``s \\odot (\\bar s - (\\bar s^\\top s) 1)``);
4. last the derivatives of squashing functions as their rules write them (``s \\odot (1 - s)``,
   ``1 - y \\odot y``), so a derivative follows the adjoint it scales (``\\bar o_t \\odot o_t \\odot (1 - o_t)``).

Ties go to SymPy's canonical key (a total, deterministic order). The model's order is the setting
``model_order`` (:func:`print_order`); without it only the error signal and the derivatives move.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy import MatMul
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from symderive.errors import OptionError
from symderive.matrix.product_order import arrange_factors, factor_rank, is_negated, is_value
from symderive.model.scalars import is_scalar
from symderive.ops.registry import ACTIVATIONS, is_row_vector, row_form

GREEK = {"delta", "epsilon", "theta", "sigma", "alpha", "beta", "gamma", "lambda", "mu", "xi", "pi", "ell"}


def latex_identifier(name: str, bold: bool = False) -> str:
    """``W_hh -> W_{hh}``, ``h0 -> h_{0}``, ``delta -> \\delta``; bold sets the base in ``\\mathbf``."""
    base, _, sub = name.partition("_")
    if not sub:
        m = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
        base, sub = (m.group(1), m.group(2)) if m else (name, "")
    base = "\\" + base if base in GREEK else base
    if bold and not base.startswith("\\"):
        base = rf"\mathbf{{{base}}}"
    return f"{base}_{{{sub}}}" if sub else base


#: a spelling's leading Latin letter, after an optional group brace and accent: ``{W^{(2)}}``, ``\hat y``, ``W_{X}``
SPELLING_LETTER = re.compile(r"^(\{?)(\\(?:hat|tilde|bar|check|dot|vec)\s*\{?\s*)?([A-Za-z])(\}?)")


def bold_spelling(latex: str) -> str:
    r"""A model's own spelling with its letter in bold (``\hat y -> \hat{\mathbf{y}}``,
    ``{W^{(2)}} -> {\mathbf{W}^{(2)}}``); a spelling that does not start with a Latin letter (``\delta``) stays."""
    m = SPELLING_LETTER.match(latex)
    if m is None:
        return latex
    group, accent, letter, close = m.groups()
    if accent:
        command = accent.rstrip("{ ").rstrip()
        return f"{group}{command}{{\\mathbf{{{letter}}}}}{latex[m.end():]}"
    return f"{group}\\mathbf{{{letter}}}{close}{latex[m.end():]}"


class DerivationPrinter(LatexPrinter):
    printmethod = "_symderive_latex"
    _default_settings = {**LatexPrinter._default_settings, "latex_names": {}, "bold": False, "model_order": {}}

    def name(self, identifier: str, scalar: bool = False) -> str:
        """The LaTeX of an identifier; a scalar is never bold."""
        names = self._settings["latex_names"]
        if identifier in names:
            return bold_spelling(names[identifier]) if self._settings["bold"] and not scalar else names[identifier]
        if identifier.startswith("d_"):
            return self.adjoint_name(identifier[2:], scalar)
        return latex_identifier(identifier, self._settings["bold"] and not scalar)

    def adjoint_name(self, identifier: str, scalar: bool = False) -> str:
        """``\\bar{z}`` for the adjoint dL/dz; ``\\bar{W}_{hh}`` for dL/dW_hh."""
        bold = self._settings["bold"] and not scalar
        spelled = self._settings["latex_names"].get(identifier)
        inner = (bold_spelling(spelled) if bold else spelled) if spelled else latex_identifier(identifier, bold)
        base, sep, sub = inner.partition("_")
        return rf"\bar{{{base}}}{sep}{sub}"

    def _print_MatrixSymbol(self, e):
        return self.name(e.name, is_scalar(e))

    def _print_Mul(self, e):
        """``\\frac{1}{2} \\|v\\|^2`` rather than ``\\frac{\\|v\\|^2}{2}``."""
        coeff, rest = e.as_coeff_Mul()
        if coeff.is_Rational and not coeff.is_Integer and rest != 1:
            sign = "-" if coeff < 0 else ""
            return rf"{sign}\frac{{{abs(coeff.p)}}}{{{coeff.q}}} {self.parenthesize(rest, PRECEDENCE['Mul'])}"
        return super()._print_Mul(e)

    def _print_TimeVar(self, e):
        base = self.name(e.name, is_scalar(e))
        time = self._print(e.time).replace(" ", "")
        if "_{" in base and base.endswith("}"):  # a label subscript already: a_{n} at t is a_{n,t}
            return f"{base[:-1]},{time}}}"
        return f"{base}_{{{time}}}"

    def _print_Transpose(self, e):
        """``W^\\top``; a scalar is its own transpose."""
        arg = e.arg
        if is_scalar(e):
            return self.parenthesize(arg, PRECEDENCE["Mul"], strict=False)
        inner = self._print(arg)
        if not isinstance(arg, (sp.MatrixSymbol,)) and not type(arg).__name__ == "TimeVar":
            inner = rf"\left({inner}\right)"
        return inner + r"^{\top}"

    def _print_HadamardProduct(self, e):
        """``a \\odot b``; of scalars, the product ``a b``."""
        if is_scalar(e):
            return self.scalar_product(e)
        factors = arrange_factors(hadamard_factors(e), self._settings["model_order"])
        return r" \odot ".join(self.hadamard_factor(f) for f in factors)

    def hadamard_factor(self, f) -> str:
        """A factor of an entrywise product; a product of matrices goes in parentheses, (A B) ⊙ C."""
        if isinstance(f, MatMul) and sum(not is_scalar(a) for a in f.as_coeff_matrices()[1]) > 1:
            return rf"\left({self._print(f)}\right)"
        return self.parenthesize(f, PRECEDENCE["Mul"], strict=True)

    def scalar_product(self, e) -> str:
        """A product of scalars, its numbers first: ``2 s \\tanh(z) \\bar{a}``."""
        coeff, factors = scalar_factors(e, self._settings["model_order"])
        body = " ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in factors)
        if coeff == -1:
            return "-" + body
        return body if coeff == 1 else f"{self._print(coeff)} {body}"

    def _print_HadamardPower(self, e):
        """``a \\odot a`` and ``a^{\\circ p}``; of a scalar, the power ``a^{p}``."""
        if is_scalar(e):
            return self.scalar_power(e.base, e.exp)
        base = self.parenthesize(e.base, PRECEDENCE["Mul"], strict=True)
        if e.exp == 2:
            return rf"{base} \odot {base}"
        return rf"{base}^{{\circ {self._print(e.exp)}}}"

    def _print_MatPow(self, e):
        return self.scalar_power(e.base, e.exp) if is_scalar(e) else super()._print_MatPow(e)

    def scalar_power(self, base, exp) -> str:
        """``a^{2}``, ``\\left(a - y\\right)^{2}``."""
        return f"{self.parenthesize(base, PRECEDENCE['Pow'], strict=True)}^{{{self._print(exp)}}}"

    def _print_Identity(self, e):
        return "1" if is_scalar(e) else super()._print_Identity(e)

    def _print_Elementwise(self, e):
        name = ACTIVATIONS[e.fname].latex
        if name.endswith("{}"):  # a spelling around the argument: \sqrt{z}
            return f"{name[:-1]}{self._print(e.arg)}}}"
        return rf"{name}\left({self._print(e.arg)}\right)"

    def _print_OneMatrix(self, e):
        return r"\mathbf{1}" if self._settings["bold"] and not is_scalar(e) else "1"

    def _print_ZeroMatrix(self, e):
        return r"\mathbf{0}" if self._settings["bold"] and not is_scalar(e) else "0"

    def _print_Concat(self, e):
        return r"\begin{bmatrix} " + r" \\ ".join(self._print(a) for a in e.args) + r" \end{bmatrix}"

    def _print_Rows(self, e):
        arg, start, stop = e.args
        return rf"\left[{self._print(arg)}\right]_{{{self._print(start + 1)}:{self._print(stop)}}}"

    def _print_SquaredNorm(self, e):
        """``\\|v\\|^2``; of a scalar, its square ``(a - y)^2``."""
        if is_scalar(e.arg):
            return self.scalar_power(e.arg, 2)
        return rf"\left\| {self._print(e.arg)} \right\|^{{2}}"

    def _print_TimeSum(self, e):
        var, lo, hi = e.limits
        body = self._print(e.body)
        if isinstance(e.body, sp.MatAdd):
            body = rf"\left({body}\right)"
        return rf"\sum_{{{self._print(var)}={self._print(lo)}}}^{{{self._print(hi)}}} {body}"

    def _print_DiagMatrix(self, e):
        if is_scalar(e):
            return self.parenthesize(e.args[0], PRECEDENCE["Mul"], strict=True)
        return rf"\operatorname{{diag}}\left({self._print(e.args[0])}\right)"

    def _print_MatAdd(self, e):
        """Positive terms first (``1 - h ⊙ h``, not ``-h ⊙ h + 1``), in SymPy's canonical order."""
        terms = sorted(e.args, key=lambda a: is_negated(a))
        out = self._print(terms[0])
        for a in terms[1:]:
            out += f" - {self._print(-a)}" if is_negated(a) else f" + {self._print(a)}"
        return out

    def _print_MatMul(self, e):
        """``W x``; scalar (1 x 1) factors first, as a scalar multiple (``c v``); ``\\mathbf{1}^\\top v``."""
        coeff, factors = e.as_coeff_matrices()
        if all(map(is_scalar, factors)):
            return self.scalar_product(e)
        factors = [f for f in factors if is_scalar(f)] + [f for f in factors if not is_scalar(f)]
        parts = [self.matmul_factor(f) for f in factors]
        body = " ".join(parts)
        if coeff == -1:
            return "-" + body
        return body if coeff == 1 else f"{self._print(coeff)} {body}"

    def _print_Softmax(self, e):
        return rf"\operatorname{{softmax}}\left({self._print(e.arg)}\right)"

    def _print_LogSoftmax(self, e):
        return rf"\log\operatorname{{softmax}}\left({self._print(e.arg)}\right)"

    def _print_SumEntries(self, e):
        r"""``a^\top b`` for the sum of the entries of ``a ⊙ b`` (``a b^\top`` for rows), else ``1^\top v``
        (``v 1``)."""
        v, row = e.arg, is_row_vector(e.arg.shape)
        if 1 not in v.shape:  # of a matrix: the inner product <a, b> of two matrices, or 1^T A 1
            return self.matrix_sum(v)
        if isinstance(v, sp.HadamardProduct) and len(v.args) == 2:
            a, b = sorted(v.args, key=self.sum_factor_order)
            first, second = (a, sp.Transpose(b)) if row else (sp.Transpose(a), b)
            return f"{self.parenthesize(first, PRECEDENCE['Mul'])} {self.parenthesize(second, PRECEDENCE['Mul'])}"
        one, body = r"\mathbf{1}", self.parenthesize(v, PRECEDENCE["Mul"])  # the all-ones vector, as the rules write it
        return f"{body} {one}" if row else f"{one}^{{\\top}} {body}"

    def _print_HeadStack(self, e):
        return rf"\operatorname{{stack}}_h\left({self.head(e.a)} {self.head(e.b)}^{{\top}}\right)"

    def _print_HeadScale(self, e):
        return r"\frac{1}{\sqrt{d_h}}"

    def _print_HeadConcat(self, e):
        return rf"\operatorname{{concat}}_h\left({self.head(e.a)} {self.head(e.b)}\right)"

    def _print_HeadConcatT(self, e):
        return rf"\operatorname{{concat}}_h\left({self.head(e.a)}^{{\top}} {self.head(e.b)}\right)"

    def head(self, m) -> str:
        r"""Head h of ``m``: ``Q_h`` of a symbol, ``[\bar Y]_h`` of anything else."""
        if isinstance(m, sp.MatrixSymbol) and "_" not in self._print(m):
            return f"{self._print(m)}_h"
        return rf"\left[{self._print(m)}\right]_h"
    def _print_Option(self, e):
        return e.latex

    def _print_RowSum(self, e):
        return rf"\operatorname{{rowsum}}\left({self._print(e.arg)}\right)"

    def _print_RowMean(self, e):
        return rf"\operatorname{{mean}}\left({self._print(e.arg)}\right)"

    def _print_SoftmaxRows(self, e):
        """The softmax of each row; a causal one is marked above (row i reads the columns j <= i)."""
        causal = r"^{\text{causal}}" if e.causal.value else ""
        return rf"\operatorname{{softmax}}_{{\text{{row}}}}{causal}\left({self._print(e.arg)}\right)"

    def _print_NormalizeRows(self, e):
        return rf"\operatorname{{normalize}}_{{\text{{row}}}}\left({self._print(e.arg)}\right)"

    def _print_InvStd(self, e):
        return rf"\frac{{1}}{{\sqrt{{\operatorname{{var}}\left({self._print(e.arg)}\right) + {self._print(e.eps)}}}}}"

    def matrix_sum(self, v) -> str:
        r"""``\langle a, b \rangle`` for the sum of the entries of two matrices' product ``a \odot b``, else
        ``\mathbf{1}^\top A \mathbf{1}``."""
        if isinstance(v, sp.HadamardProduct) and len(v.args) == 2:
            a, b = sorted(v.args, key=self.sum_factor_order)
            return rf"\left\langle {self._print(a)}, {self._print(b)} \right\rangle"
        return rf"\mathbf{{1}}^{{\top}} {self.parenthesize(v, PRECEDENCE['Mul'])} \mathbf{{1}}"

    def _print_SumFactor(self, e):
        r"""``(\bar s^\top s)`` in ``(\bar s^\top s) 1``: a sum of entries scaling a vector, in parentheses."""
        return rf"\left({self._print_SumEntries(e)}\right)"

    def sum_factor_order(self, f) -> tuple:
        r"""A model value before an expression (``y^\top \log p``), an adjoint first (``\bar s^\top s``)."""
        return (not is_value(f), factor_rank(f, self._settings["model_order"]), sp.default_sort_key(f))

    def matmul_factor(self, f) -> str:
        if isinstance(f, sp.OneMatrix) and f.rows == 1 and f.cols != 1:
            return r"\mathbf{1}^{\top}"
        if isinstance(f, sp.OneMatrix) and f.cols == 1 and f.rows != 1:
            return r"\mathbf{1}"
        if is_scalar(f) and isinstance(f, (sp.HadamardProduct, sp.MatMul)):
            return self.parenthesize(f, PRECEDENCE["Mul"], strict=True)
        return self.parenthesize(f, PRECEDENCE["Mul"], strict=False)


def scalar_factors(e, order: dict | None = None) -> tuple:
    """``(c, [f1, f2, ...])`` for a product of scalars (matrix or entrywise products of 1 x 1 values,
    nested ones flattened): ``e = c f1 f2 ...``; an entrywise product's factors as :func:`arrange_factors` puts them
    (``order``: the model's, see :func:`print_order`)."""
    if isinstance(e, MatMul) and all(map(is_scalar, e.as_coeff_matrices()[1])):
        coeff, factors = e.as_coeff_matrices()
    elif isinstance(e, sp.HadamardProduct) and is_scalar(e):
        coeff, factors = sp.S.One, arrange_factors(e.args, order or {})
    else:
        return sp.S.One, [e]
    out = []
    for f in factors:
        c, fs = scalar_factors(f, order)
        coeff, out = coeff * c, out + fs
    return coeff, out


def hadamard_factors(e) -> list:
    """The factors of a Hadamard product, nested products flattened (``a ⊙ (b ⊙ c)`` is ``a ⊙ b ⊙ c``)."""
    out = []
    for a in e.args:
        out.extend(hadamard_factors(a) if isinstance(a, sp.HadamardProduct) else [a])
    return out


def latex_sum(exprs, layout: str = "column", **settings) -> str:
    """``a + b - c`` for terms in the given order (a derivation shows shares in the order they arise)."""
    printer = DerivationPrinter(settings)
    out = ""
    for i, e in enumerate(exprs):
        e = row_form(e) if layout == "row" else e
        if is_negated(e):
            out += ("-" if i == 0 else " - ") + printer.doprint(-e)
        else:
            out += ("" if i == 0 else " + ") + printer.doprint(e)
    return out or "0"


LAYOUTS = ("column", "row")


def to_latex(expr, layout: str = "column", **settings) -> str:
    """LaTeX for a model expression; settings: ``latex_names`` (dict), ``bold`` (bool), and
    ``layout`` ("column", or "row": the expression is written as ``row_form(expr)``)."""
    if layout not in LAYOUTS:
        raise OptionError(f"unknown layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
    return DerivationPrinter(settings).doprint(row_form(expr) if layout == "row" else expr)
