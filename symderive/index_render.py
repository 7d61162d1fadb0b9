"""LaTeX for index-level formulas and the document sections of convolution and pooling derivations.

``Y_{o,i,j} = \\sum_{c,p,q} W_{o,c,p,q} X_{c, S_h i + D_h p - P_h, S_w j + D_w q - P_w} + b_{o}``:
index expressions print with the variables in the order they are read (output index first, then
the summed ones, then the constant offset); sums print as ``\\sum_{c,p,q}`` with the ranges stated
once in the text; Kronecker deltas as ``\\delta_{a, e}``. ``operation`` recognises a derived formula
as an operation (sum, cross-correlation, convolution) and says so in words.
"""
from __future__ import annotations

import sympy as sp

from .document import Section, Step
from .indexed import Access, AdjointOf, Definition, PointwiseShare, Share, Term
from .render import FUNCTION_NAMES

SIZE_LATEX = {"H_in": r"H_{\mathrm{in}}", "W_in": r"W_{\mathrm{in}}", "H_out": r"H_{\mathrm{out}}",
              "W_out": r"W_{\mathrm{out}}", "N_in": r"N_{\mathrm{in}}", "N_out": r"N_{\mathrm{out}}",
              "H_c": r"H_{c}", "W_c": r"W_{c}", "H_p": r"H_{p}", "W_p": r"W_{p}"}


def symbol_latex(s: sp.Symbol) -> str:
    if s.name in SIZE_LATEX:
        return SIZE_LATEX[s.name]
    if s.name.endswith("'"):
        return s.name
    base, _, sub = s.name.partition("_")
    return f"{base}_{{{sub}}}" if sub else base


def expr_latex(e) -> str:
    e = sp.sympify(e)
    return sp.latex(e, symbol_names={s: symbol_latex(s) for s in e.free_symbols}, mul_symbol=None)


VARIABLE_ORDER = ["o", "c", "k", "i", "j", "m", "n", "u_i", "u_j", "p", "q"]


def variable_rank(v) -> tuple:
    name = v.name.rstrip("'")
    return (VARIABLE_ORDER.index(name), "") if name in VARIABLE_ORDER else (len(VARIABLE_ORDER), name)


def index_latex(e, order=()) -> str:
    """``S_h i + D_h p - P_h``: terms with index variables first (output positions before kernel taps),
    then the offset."""
    e = sp.expand(e)
    terms = list(sp.Add.make_args(e))
    rank = set(order)

    def key(term):
        variables = [v for v in term.free_symbols if v in rank or v.name.rstrip("'") in VARIABLE_ORDER]
        return (0, min(variable_rank(v) for v in variables)) if variables else (1, sp.default_sort_key(term))

    out = ""
    for k, term in enumerate(sorted(terms, key=key)):
        negative = term.could_extract_minus_sign()
        body = expr_latex(-term if negative else term)
        out += ("-" if negative else "") + body if k == 0 else (" - " if negative else " + ") + body
    return out or "0"


def access_latex(a: Access, order=()) -> str:
    if not a.index:
        return a.tensor.tex
    return f"{a.tensor.tex}_{{{', '.join(index_latex(i, order) for i in a.index)}}}"


def term_latex(term: Term, order=()) -> str:
    """``coeff \\sum_{vars} factors deltas``."""
    order = tuple(order) + tuple(v for v, _ in term.sums)
    body = " ".join(access_latex(f, order) for f in term.factors)
    deltas = " ".join(rf"\delta_{{{index_latex(a)},\, {index_latex(e, order)}}}" for a, e in term.deltas)
    body = " ".join(x for x in (body, deltas) if x) or "1"
    if term.sums:
        body = rf"\sum_{{{','.join(symbol_latex(v) for v, _ in term.sums)}}} {body}"
    if term.coeff != 1:
        body = f"{expr_latex(term.coeff)} {body}"
    return body


def ranges_text(sums) -> str:
    """``$c = 0, \\dots, C - 1$, ...`` for the summed variables."""
    return ", ".join(rf"${symbol_latex(v)} = 0, \dots, {expr_latex(n - 1)}$" for v, n in sums)


def partial(a: AdjointOf) -> str:
    index = ", ".join(symbol_latex(v) for v in a.index)
    target = f"{a.tensor.tex}_{{{index}}}" if index else a.tensor.tex
    return rf"\frac{{\partial L}}{{\partial {target}}}"


def pointwise_latex(expr, texs: dict) -> str:
    """A pointwise formula of entries, ``G_{o,i,j} Y_{o,i,j} (1 - Y_{o,i,j})`` (``texs``: name -> LaTeX)."""
    entries = sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key)
    placeholders = {x: sp.Symbol(f"entry{k}") for k, x in enumerate(entries)}
    names = {placeholders[x]: f"{texs.get(x.base.name, x.base.name)}_{{{', '.join(index_latex(i) for i in x.indices)}}}"
             for x in entries}
    out = sp.latex(expr.subs(placeholders), symbol_names=names)
    for fname, tex in FUNCTION_NAMES.items():
        out = out.replace(rf"\operatorname{{{fname}}}", tex)
    return out.replace(r"\operatorname{step}", r"\mathbb{1}")


def definition_steps(d: Definition) -> list[Step]:
    """``R = G M`` and ``\\tilde{G}_{.., u, ..} = G_{.., u/S, ..}`` (zeros between)."""
    steps = []
    for inner in d.factors:
        if isinstance(inner, Definition):
            steps += definition_steps(inner)
    if d.kind == "product":
        steps.append(Step(access_latex(d.out[d.index]), " ".join(access_latex(f) for f in d.factors),
                          "The factors that read the strided index are multiplied into one array first:"))
        return steps
    strided = dict(d.strides)
    names = [f"u_{{{i}}}" if axis in strided else symbol_latex(i) for axis, i in enumerate(d.index)]
    read = [rf"u_{{{i}}} / {expr_latex(strided[axis])}" if axis in strided else symbol_latex(i)
            for axis, i in enumerate(d.index)]
    cond = r" \text{ and } ".join(rf"{expr_latex(strided[axis])} \mid u_{{{i}}}" for axis, i in enumerate(d.index)
                                  if axis in strided)
    rhs = (rf"\begin{{cases}} {d.of.tex}_{{{', '.join(read)}}} & {cond} \\ 0 & \text{{otherwise}} \end{{cases}}")
    why = (rf"The strided read is absorbed into the dilated array ${d.out.tex}$: ${d.of.tex}$ with "
           + ", ".join(rf"${expr_latex(s)} - 1$" for _, s in d.strides[:1])
           + r" zeros inserted between neighbouring entries along each strided axis:")
    steps.append(Step(f"{d.out.tex}_{{{', '.join(names)}}}", rhs, why))
    return steps


def gradient_steps(a: AdjointOf, texs: dict) -> list[Step]:
    """The chain rule with Kronecker deltas, the deltas eliminated, and the result."""
    steps = []
    lhs = partial(a)
    for share in a.shares:
        if isinstance(share, PointwiseShare):
            steps.append(Step(lhs, pointwise_latex(share.expr, texs), f"Entry by entry (${share.rule}$):"))
            continue
        chain = share.chain[0]
        steps.append(Step(chain_lhs(a, chain), term_latex(chain, a_index(chain)),
                          "Chain rule: every entry the output reads contributes one Kronecker delta per axis:"))
        for d in share.definitions:
            steps += definition_steps(d)
        steps.append(Step(lhs, " + ".join(term_latex(t, a.index) for t in share.result),
                          "Summing the deltas away (each fixes one summed index):"))
    return steps


def a_index(chain: Term) -> tuple:
    return tuple(a for a, _ in chain.deltas)


def chain_lhs(a: AdjointOf, chain: Term) -> str:
    index = ", ".join(index_latex(x) for x, _ in chain.deltas)
    return rf"\frac{{\partial L}}{{\partial {a.tensor.tex}_{{{index}}}}}" if index else partial(a)


def operation(a: AdjointOf) -> str:
    """A sentence naming the operation a derived formula is (sum, cross-correlation, convolution)."""
    shares = [s for s in a.shares if isinstance(s, Share)]
    if len(shares) != 1 or len(shares[0].result) != 1:
        return ""
    term = shares[0].result[0]
    free, summed = set(a.index), set(term.summed)
    if len(term.factors) == 1 and summed:
        return (rf"The gradient adds up ${term.factors[0].tensor.tex}$ over "
                + ", ".join(f"${symbol_latex(v)}$" for v, _ in term.sums) + ".")
    if len(term.factors) != 2:
        return ""
    sliding = [(f, axis, e) for f in term.factors for axis, e in enumerate(f.index)
               if e.free_symbols & free and e.free_symbols & summed]
    if not sliding:
        return "A contraction over " + ", ".join(f"${symbol_latex(v)}$" for v, _ in term.sums) + "." if summed else ""
    f = sliding[0][0]
    kernel = next(g for g in term.factors if g is not f)
    parts = []
    for _, axis, e in sliding:
        x = next(v for v in e.free_symbols if v in free)
        v = next(v for v in e.free_symbols if v in summed)
        stride, step = sp.expand(e).coeff(x), sp.expand(e).coeff(v)
        parts.append((stride, step))
    kind = "convolution" if all(s.could_extract_minus_sign() for _, s in parts) else "cross-correlation"
    strides = ", ".join(f"${expr_latex(s)}$" for s, _ in parts)
    taps = ", ".join(f"${expr_latex(-s if s.could_extract_minus_sign() else s)}$" for _, s in parts)
    if kind == "cross-correlation":
        return (rf"So the gradient is a cross-correlation: ${kernel.tensor.tex}$ slides as the kernel over "
                rf"${f.tensor.tex}$ (zero-padded) with stride {strides} and dilation {taps}.")
    return (rf"So the gradient is a convolution of ${f.tensor.tex}$ with the kernel ${kernel.tensor.tex}$ "
            rf"(stride {strides}, dilation {taps}): the kernel index enters with a minus sign, so it is the "
            r"\emph{full} convolution, the cross-correlation of the zero-padded array with the flipped kernel.")


def gradient_section(bw, t, texs: dict) -> Section:
    """How dL/dt is derived; the text names the operation the result is."""
    a = bw.of(t)
    return Section(rf"Gradient with respect to ${t.tex}$", operation(a), tuple(gradient_steps(a, texs)))
