"""LaTeX for index-level formulas and the document sections of convolution and pooling derivations.

``Y_{o,i,j} = \\sum_{c,p,q} W_{o,c,p,q} X_{c, S_h i + D_h p - P_h, S_w j + D_w q - P_w} + b_{o}``:
index expressions print with the variables in the order they are read (output index first, then
the summed ones, then the constant offset); sums print as ``\\sum_{c,p,q}`` with the ranges stated
once in the text; Kronecker deltas as ``\\delta_{a, e}``. ``operation`` recognises a derived formula
as an operation (sum, cross-correlation, convolution) and says so in words.

Notation (``options``, a ``RenderOptions`` or None for the defaults): ``index_base`` 0 or 1. The
derivation is done 0-based; for base 1 every index variable ``v`` stands for ``v - 1`` and every
position gets ``+ 1``, printed as ``S_h (i - 1) + D_h (p - 1) - P_h + 1``. ``bold`` sets whole arrays
(``\\mathbf{X}``, not their entries ``X_{c,i,j}``) in bold; ``lang`` picks the prose.
"""
from __future__ import annotations

import sympy as sp

from symderive.document.document import Section, Step
from symderive.document.prose import say
from symderive.index.derive import AdjointOf, Definition, PointwiseShare, Share
from symderive.index.program import Access, Tensor, Term, index_symbols
from symderive.matrix.latex_printer import GREEK
from symderive.ops.registry import ACTIVATIONS

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


VARIABLE_ORDER = ["o", "c", "k", "i", "j", "m", "n", "u_i", "u_j", "p", "q", "r", "s"]


def variable_rank(v) -> tuple:
    name = v.name.rstrip("'")
    return (VARIABLE_ORDER.index(name), "") if name in VARIABLE_ORDER else (len(VARIABLE_ORDER), name)


def base_of(options) -> int:
    return getattr(options, "index_base", 0)


def is_index_variable(v, order=()) -> bool:
    """An index variable (shifted by one with index base 1), not a size: in ``order``, one of the usual letters,
    or a lower-case symbol made by :func:`~symderive.index.program.index_symbols` (a user's ``a0``, ``l``)."""
    if v in set(order) or v.name.rstrip("'") in VARIABLE_ORDER:
        return True
    return bool(v.is_integer and v.is_nonnegative and not v.is_positive and v.name[:1].islower())


def signed_join(pieces) -> str:
    """``a + b - c`` from ``(negative, latex)`` pieces."""
    out = ""
    for k, (negative, body) in enumerate(pieces):
        out += ("-" if negative else "") + body if k == 0 else (" - " if negative else " + ") + body
    return out or "0"


def index_latex(e, order=(), options=None) -> str:
    """``S_h i + D_h p - P_h``: terms with index variables first (output positions before kernel taps),
    then the offset. With index base 1 the same position reads ``S_h (i - 1) + D_h (p - 1) - P_h + 1``."""
    e = sp.expand(e)
    if base_of(options) == 1:
        return one_based_latex(e, order)
    terms = list(sp.Add.make_args(e))

    def key(term):
        variables = [v for v in term.free_symbols if is_index_variable(v, order)]
        return (0, min(variable_rank(v) for v in variables)) if variables else (1, sp.default_sort_key(term))

    pieces = []
    for term in sorted(terms, key=key):
        negative = term.could_extract_minus_sign()
        pieces.append((negative, expr_latex(-term if negative else term)))
    return signed_join(positive_first(pieces))


def positive_first(pieces: list) -> list:
    """``m - j`` rather than ``-j + m``: a leading negative term gives way to the first positive one."""
    first_positive = next((k for k, (negative, _) in enumerate(pieces) if not negative), None)
    if not pieces or not pieces[0][0] or first_positive is None:
        return pieces
    return [pieces[first_positive], *pieces[:first_positive], *pieces[first_positive + 1:]]


def one_based_latex(e, order=()) -> str:
    """The 0-based position ``e`` of 0-based variables, written 1-based: each variable ``v`` is
    ``v - 1`` and the position is ``e + 1``. A symbolic coefficient keeps its ``(v - 1)`` visible
    (``S_h (i - 1)``, ``(u - 1) / S``); a numeric one is folded into the constant (``i + p`` becomes
    ``i + p - 1``)."""
    variables = sorted((v for v in e.free_symbols if is_index_variable(v, order)), key=variable_rank)
    constant = e.subs({v: 0 for v in variables}) + 1
    pieces = []
    for v in variables:
        coeff = e.coeff(v)
        negative = coeff.could_extract_minus_sign()
        c, name = (-coeff if negative else coeff), symbol_latex(v)
        if c.is_number:
            constant -= coeff
            pieces.append((negative, name if c == 1 else f"{expr_latex(c)} {name}"))
        elif c.is_Pow and c.exp == -1:
            pieces.append((negative, rf"\frac{{{name} - 1}}{{{expr_latex(c.base)}}}"))
        else:
            pieces.append((negative, rf"{expr_latex(c)} ({name} - 1)"))
    symbolic_first = lambda term: (term.is_number, sp.default_sort_key(term))  # noqa: E731
    for term in sorted(sp.Add.make_args(sp.expand(constant)), key=symbolic_first):
        if term != 0:
            negative = term.could_extract_minus_sign()
            pieces.append((negative, expr_latex(-term if negative else term)))
    return signed_join(pieces)


def tensor_latex(t: Tensor, options=None) -> str:
    """A whole array's name; bold (``\\mathbf{X}``, ``\\boldsymbol{\\beta}``, ``\\bar{\\mathbf{X}}``) with ``bold``."""
    tex = t.tex
    if not getattr(options, "bold", False) or not t.dims:
        return tex
    for accent in (r"\bar", r"\tilde", r"\hat"):
        if tex.startswith(accent + "{") and tex.endswith("}"):
            return f"{accent}{{{tensor_latex(Tensor(t.name, t.dims, tex[len(accent) + 1:-1]), options)}}}"
    if tex.startswith("\\") and tex[1:] in GREEK:
        return rf"\boldsymbol{{{tex}}}"
    return rf"\mathbf{{{tex}}}"


def access_latex(a: Access, order=(), options=None) -> str:
    if not a.index:
        return tensor_latex(a.tensor, options)
    tex = a.tensor.tex
    tex = f"{{{tex}}}" if "_" in tex and not tex.startswith("{") else tex  # mask_P_{c,i}: a double subscript
    return f"{tex}_{{{', '.join(index_latex(i, order, options) for i in a.index)}}}"


def term_latex(term: Term, order=(), options=None) -> str:
    """``coeff \\sum_{vars} factors deltas``."""
    order = tuple(order) + tuple(v for v, _ in term.sums)
    body = " ".join(access_latex(f, order, options) for f in term.factors)
    deltas = " ".join(rf"\delta_{{{index_latex(a, (), options)},\, {index_latex(e, order, options)}}}"
                      for a, e in term.deltas)
    body = " ".join(x for x in (body, deltas) if x) or "1"
    if term.sums:
        body = rf"\sum_{{{','.join(symbol_latex(v) for v, _ in term.sums)}}} {body}"
    if term.coeff != 1:
        body = f"{expr_latex(term.coeff)} {body}"
    return body


def ranges_text(sums, options=None) -> str:
    """``$c = 0, \\dots, C - 1$, ...`` for the summed variables (``1, \\dots, C`` with index base 1)."""
    if base_of(options) == 1:
        return ", ".join(rf"${symbol_latex(v)} = 1, \dots, {expr_latex(n)}$" for v, n in sums)
    return ", ".join(rf"${symbol_latex(v)} = 0, \dots, {expr_latex(n - 1)}$" for v, n in sums)


def partial(a: AdjointOf) -> str:
    index = ", ".join(symbol_latex(v) for v in a.index)
    target = f"{a.tensor.tex}_{{{index}}}" if index else a.tensor.tex
    return rf"\frac{{\partial L}}{{\partial {target}}}"


def pointwise_latex(expr, texs: dict, options=None) -> str:
    """A pointwise formula of entries, ``G_{o,i,j} Y_{o,i,j} (1 - Y_{o,i,j})`` (``texs``: name -> LaTeX)."""
    entries = sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key)
    placeholders = {x: sp.Symbol(f"entry{k}") for k, x in enumerate(entries)}
    names = {placeholders[x]: f"{texs.get(x.base.name, x.base.name)}_"
                              f"{{{', '.join(index_latex(i, (), options) for i in x.indices)}}}"
             for x in entries}
    out = sp.latex(expr.subs(placeholders), symbol_names=names)
    for fname, f in ACTIVATIONS.items():
        out = out.replace(rf"\operatorname{{{fname}}}", f.latex)
    return out.replace(r"\operatorname{step}", r"\mathbb{1}")


def definition_steps(d: Definition, options=None) -> list[Step]:
    """``R = G M`` and ``\\tilde{G}_{.., u, ..} = G_{.., u/S, ..}`` (zeros between)."""
    steps = []
    for inner in d.factors:
        if isinstance(inner, Definition):
            steps += definition_steps(inner, options)
    if d.kind == "product":
        steps.append(Step(access_latex(d.out[d.index], (), options),
                          " ".join(access_latex(f, (), options) for f in d.factors),
                          say(options, "The factors that read the strided index are multiplied into one array first:",
                              "보폭(stride)으로 건너뛰며 읽는 인자들을 먼저 하나의 배열로 곱해 둡니다:")))
        return steps
    strided = dict(d.strides)
    u = {axis: index_symbols(f"u_{i.name}")[0] for axis, i in enumerate(d.index) if axis in strided}
    names = [index_latex(u[axis], (), options) if axis in strided else symbol_latex(i)
             for axis, i in enumerate(d.index)]
    read = [index_latex(u[axis] / strided[axis], (), options) if axis in strided else symbol_latex(i)
            for axis, i in enumerate(d.index)]
    shift = " - 1" if base_of(options) == 1 else ""
    cond = (r" \text{ %s } " % say(options, "and", "그리고")).join(
        rf"{expr_latex(strided[axis])} \mid {symbol_latex(u[axis])}{shift}" for axis in u)
    otherwise = say(options, "otherwise", "그 밖")
    rhs = (rf"\begin{{cases}} {d.of.tex}_{{{', '.join(read)}}} & {cond} \\ 0 & \text{{{otherwise}}} \end{{cases}}")
    out, of = tensor_latex(d.out, options), tensor_latex(d.of, options)
    zeros = ", ".join(rf"${expr_latex(s)} - 1$" for _, s in d.strides[:1])
    why = say(options,
              rf"The strided read is absorbed into the dilated array ${out}$: ${of}$ with {zeros} zeros inserted "
              r"between neighbouring entries along each strided axis:",
              rf"보폭으로 건너뛰며 읽는 것을 팽창(dilated) 배열 ${out}$에 흡수합니다. ${out}$는 보폭이 있는 축마다 "
              rf"${of}$의 이웃한 성분 사이에 0을 {zeros}개씩 끼워 넣은 배열입니다:")
    steps.append(Step(f"{d.out.tex}_{{{', '.join(names)}}}", rhs, why))
    return steps


def gradient_steps(a: AdjointOf, texs: dict, options=None) -> list[Step]:
    """The chain rule with Kronecker deltas, the deltas eliminated, and the result."""
    steps = []
    lhs = partial(a)
    for share in a.shares:
        if isinstance(share, PointwiseShare):
            steps.append(Step(lhs, pointwise_latex(share.expr, texs, options),
                              say(options, f"Entry by entry (${share.rule}$):",
                                  f"성분별로 계산합니다(${share.rule}$):")))
            continue
        chain = share.chain[0]
        steps.append(Step(chain_lhs(a, chain, options), term_latex(chain, a_index(chain), options),
                          say(options,
                              "Chain rule: every entry the output reads contributes one Kronecker delta per axis:",
                              "연쇄 법칙: 출력이 읽는 성분마다, 축 하나에 크로네커 델타가 하나씩 붙습니다:")))
        for d in share.definitions:
            steps += definition_steps(d, options)
        steps.append(Step(lhs, " + ".join(term_latex(t, a.index, options) for t in share.result),
                          say(options, "Summing the deltas away (each fixes one summed index):",
                              "델타에 대해 합을 계산해 없애면(델타 하나가 합의 인덱스 하나를 정합니다):")))
    return steps


def a_index(chain: Term) -> tuple:
    return tuple(a for a, _ in chain.deltas)


def chain_lhs(a: AdjointOf, chain: Term, options=None) -> str:
    index = ", ".join(index_latex(x, (), options) for x, _ in chain.deltas)
    return rf"\frac{{\partial L}}{{\partial {a.tensor.tex}_{{{index}}}}}" if index else partial(a)


def variables_text(sums) -> str:
    return ", ".join(f"${symbol_latex(v)}$" for v, _ in sums)


def operation(a: AdjointOf, options=None) -> str:
    """A sentence naming the operation a derived formula is (sum, cross-correlation, convolution), and
    for the convolution why the kernel comes out flipped and the convolution full."""
    shares = [s for s in a.shares if isinstance(s, Share)]
    if len(shares) != 1 or len(shares[0].result) != 1:
        return ""
    term = shares[0].result[0]
    free, summed = set(a.index), set(term.summed)
    if len(term.factors) == 1 and summed:
        f = tensor_latex(term.factors[0].tensor, options)
        return say(options, rf"The gradient adds up ${f}$ over {variables_text(term.sums)}.",
                   rf"기울기는 ${f}$를 {variables_text(term.sums)}에 대해 모두 더한 것입니다.")
    if len(term.factors) != 2:
        return ""
    sliding = [(f, e) for f in term.factors for e in f.index if e.free_symbols & free and e.free_symbols & summed]
    if not sliding:
        if not summed:
            return ""
        return say(options, f"A contraction over {variables_text(term.sums)}.",
                   f"{variables_text(term.sums)}에 대한 축약(contraction)입니다.")
    f = sliding[0][0]
    kernel = next(g for g in term.factors if g is not f)
    parts = []
    for _, e in sliding:
        x = next(v for v in e.free_symbols if v in free)
        v = next(v for v in e.free_symbols if v in summed)
        stride, step = sp.expand(e).coeff(x), sp.expand(e).coeff(v)
        parts.append((stride, step))
    kind = "convolution" if all(s.could_extract_minus_sign() for _, s in parts) else "cross-correlation"
    strides = ", ".join(f"${expr_latex(s)}$" for s, _ in parts)
    taps = ", ".join(f"${expr_latex(-s if s.could_extract_minus_sign() else s)}$" for _, s in parts)
    k, g = tensor_latex(kernel.tensor, options), tensor_latex(f.tensor, options)
    if kind == "cross-correlation":
        return say(options,
                   rf"So the gradient is a cross-correlation: ${k}$ slides as the kernel over ${g}$ (zero-padded) with "
                   rf"stride {strides} and dilation {taps}. Each kernel entry collects, over all output positions, the "
                   r"upstream gradient times the input entry it multiplied in the forward pass.",
                   rf"따라서 기울기는 교차상관(cross-correlation)입니다. ${k}$가 커널이 되어 (0으로 패딩한) ${g}$ 위를 "
                   rf"보폭 {strides}, 팽창 {taps}로 미끄러집니다. 커널의 각 성분은 순전파에서 자신이 곱했던 입력 "
                   r"성분과 위에서 내려온 기울기의 곱을 모든 출력 위치에 걸쳐 모읍니다.")
    return say(options,
               rf"So the gradient is a convolution of ${g}$ with the kernel ${k}$ (stride {strides}, dilation {taps}): "
               r"the kernel index enters with a minus sign, so it is the \emph{full} convolution, the "
               r"cross-correlation of the zero-padded array with the flipped kernel. Why flipped: an input entry is "
               r"read by every output window that covers it, and as the window moves forward the entry sits at an "
               r"earlier tap, so summing over those windows walks the kernel backwards. Why full: near the border the "
               r"windows that cover an entry hang over the edge, which the zero padding of the upstream gradient "
               r"accounts for, so every input entry, the border ones included, gets its gradient.",
               rf"따라서 기울기는 ${g}$와 커널 ${k}$의 컨볼루션입니다(보폭 {strides}, 팽창 {taps}). 커널 인덱스가 음의 "
               r"부호로 들어가므로, 이것은 0으로 패딩한 배열과 뒤집은 커널의 교차상관, 곧 \emph{풀(full)} "
               r"컨볼루션입니다. 커널이 뒤집히는 이유: 입력 성분 하나는 자신을 덮는 모든 출력 창에서 읽히는데, 창이 "
               r"앞으로 움직일수록 그 성분은 창 안에서 더 앞쪽 탭에 놓입니다. 그래서 그 창들을 모두 더하면 커널을 "
               r"거꾸로 훑게 됩니다. 풀 컨볼루션인 이유: 가장자리 근처에서는 성분을 덮는 창이 경계 밖으로 걸치는데, "
               r"위에서 내려온 기울기를 0으로 패딩해 이를 처리하므로 가장자리 성분까지 모든 입력 성분이 기울기를 "
               r"받습니다.")


def gradient_section(bw, t, texs: dict, options=None) -> Section:
    """How dL/dt is derived; the text names the operation the result is."""
    a = bw.of(t)
    name = tensor_latex(t, options)
    return Section(say(options, rf"Gradient with respect to ${name}$", rf"${name}$에 대한 기울기"),
                   operation(a, options), tuple(gradient_steps(a, texs, options)))
