"""What conv1d, conv2d, pool2d and cnn share: size symbols, the convolution as an index-level
contraction, its options (stride, padding, dilation), output sizes, documents and torch references.

The convolution of deep learning is a cross-correlation (the kernel is not flipped):

    Y[o, i...] = sum_c sum_p... W[o, c, p...] X[c, S i + D p - P, ...] + b[o]

with X zero outside its range (padding P), as in PyTorch's ``conv1d``/``conv2d``.
"""
from __future__ import annotations

import itertools

import sympy as sp

from symderive.document.document import Section, Step
from symderive.document.prose import say
from symderive.index.codegen import DerivedSize, Option
from symderive.index.document import model_section
from symderive.index.program import Contract, Tensor, Term, index_symbols, output_size
from symderive.index.render import (
    base_of,
    gradient_section,
    index_latex,
    symbol_latex,
)
from symderive.verify.report import Row


def size_symbols(names: str):
    return sp.symbols(names, integer=True, positive=True, seq=True)


# input and output channel counts (C and O in the documents)
C, OC = size_symbols("C O")


def spatial(ndim: int):
    """Per spatial axis: (input size, kernel, stride, padding, dilation, output size, out var, tap var, grad var)."""
    if ndim == 1:
        names = [("N_in", "K", "S", "P", "D", "N_out", "i", "p")]
    else:
        names = [("H_in", "K_h", "S_h", "P_h", "D_h", "H_out", "i", "p"),
                 ("W_in", "K_w", "S_w", "P_w", "D_w", "W_out", "j", "q")]
    axes = []
    for n_in, k, s, pad, dil, n_out, out_var, tap in names:
        n_in, k, s, dil, n_out = size_symbols(f"{n_in} {k} {s} {dil} {n_out}")
        pad = sp.Symbol(pad, integer=True, nonnegative=True)
        axes.append((n_in, k, s, pad, dil, n_out, index_symbols(out_var)[0], index_symbols(tap)[0]))
    return axes


def conv_contract(out: Tensor, x: Tensor, w: Tensor, b: Tensor, axes) -> Contract:
    o, c = index_symbols("o c")
    out_index = (o,) + tuple(a[6] for a in axes)
    read = (c,) + tuple(s * i + dil * p - pad for _, _, s, pad, dil, _, i, p in axes)
    sums = ((c, C),) + tuple((p, k) for _, k, _, _, _, _, _, p in axes)
    taps = tuple(a[7] for a in axes)
    return Contract(out, out_index, (Term((w[(o, c) + taps], x[read]), sums=sums), Term((b[o],))))


def conv_options(axes) -> tuple:
    def symbols(k):
        return tuple(a[k] for a in axes)
    return (Option("stride", symbols(2), 1, 1), Option("padding", symbols(3), 0, 0),
            Option("dilation", symbols(4), 1, 1))


def conv_derived(axes) -> tuple:
    out = []
    for n_in, k, s, pad, dil, n_out, _, _ in axes:
        text = f"floor(({n_in} + 2*{pad} - {dil}*({k} - 1) - 1) / {s}) + 1"
        hint = ((f"the dilated kernel {dil}*({k} - 1) + 1", dil * (k - 1) + 1),
                (f"the padded input {n_in} + 2*{pad}", n_in + 2 * pad))
        out.append(DerivedSize(n_out, output_size(n_in, k, s, pad, dil), text, hint))
    return tuple(out)


def output_size_section(axes, options=None) -> Section:
    """The output-size formula, derived from where the last tap of the window lands."""
    n_in_s, k_s, s_s, pad_s, dil_s, n_out_s, i_s, p_s = axes[0]
    n_in, k, s, pad, dil, n_out, i, p = (symbol_latex(x) for x in axes[0])
    formula = rf"\left\lfloor \frac{{{n_in} + 2 {pad} - {dil} ({k} - 1) - 1}}{{{s}}} \right\rfloor + 1"
    read = index_latex(s_s * i_s + dil_s * p_s - pad_s, (i_s, p_s), options)
    if base_of(options) == 1:
        last = rf"{s} ({i} - 1) + {dil} ({k} - 1) - {pad} + 1"
        taps, first, positions = rf"{p} = 1, \dots, {k}", "1", rf"1 - {pad}, \dots, {n_in} + {pad}"
        top, bound = rf"{n_in} + {pad}", rf"{i} \le ({n_in} + 2 {pad} - {dil} ({k} - 1) - 1) / {s} + 1"
    else:
        last = rf"{s} {i} + {dil} ({k} - 1) - {pad}"
        taps, first, positions = rf"{p} = 0, \dots, {k} - 1", "0", rf"-{pad}, \dots, {n_in} - 1 + {pad}"
        top, bound = rf"{n_in} - 1 + {pad}", rf"{i} \le ({n_in} + 2 {pad} - {dil} ({k} - 1) - 1) / {s}"
    text = say(options,
               rf"Output position ${i}$ reads the input at ${read}$ for ${taps}$. Padded by ${pad}$ zeros on each "
               rf"side, the input has positions ${positions}$, so the window fits when its last tap "
               rf"${last} \le {top}$, that is ${bound}$. The output is empty (an error) when the dilated kernel "
               rf"${dil} ({k} - 1) + 1$ is longer than the padded input ${n_in} + 2 {pad}$.",
               rf"출력 위치 ${i}$는 ${taps}$에 대해 입력의 ${read}$ 위치를 읽습니다. 양쪽에 0을 ${pad}$개씩 채우면 "
               rf"입력 위치는 ${positions}$이므로, 창의 마지막 탭이 ${last} \le {top}$을 만족할 때, 곧 ${bound}$일 때 "
               rf"창이 입력 안에 들어갑니다. 팽창한 커널의 길이 ${dil} ({k} - 1) + 1$이 패딩한 입력의 길이 "
               rf"${n_in} + 2 {pad}$보다 길면 출력이 비므로 오류입니다.")
    step = Step(n_out, formula, say(options,
                rf"Counting ${i} = {first}, {int(first) + 1}, \dots$ up to that bound "
                r"(PyTorch's formula; other axes alike):",
                rf"${i} = {first}, {int(first) + 1}, \dots$를 그 한계까지 세면 다음과 같습니다(PyTorch의 공식이며, "
                r"다른 축도 같습니다):"))
    return Section(say(options, "Output size", "출력 크기"), text, (step,))


def size_check(ndim: int):
    """An extra check: the output-size formula against counting the window positions that fit, and
    against PyTorch's output shape when torch is installed, over a grid of sizes and options."""
    def check(d, arrays) -> Row:
        formula = d.engine.derived[0].expr
        axes = spatial(ndim)[0]
        mismatches, cases = 0, 0
        try:
            import torch
        except ImportError:
            torch = None
        for n, kk, ss, pp, dd in itertools.product(range(1, 9), range(1, 4), range(1, 4), range(0, 3), range(1, 3)):
            if dd * (kk - 1) + 1 > n + 2 * pp:
                continue
            cases += 1
            value = int(formula.subs(dict(zip((axes[0], axes[1], axes[2], axes[3], axes[4]), (n, kk, ss, pp, dd)))))
            count = sum(1 for i in range(n + 2 * pp) if ss * i + dd * (kk - 1) - pp <= n - 1 + pp)
            mismatches += value != count
            if torch is not None:
                y = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, kk), stride=ss, padding=pp,
                                               dilation=dd)
                mismatches += y.shape[-1] != value
        return Row(f"output-size formula ({cases} cases{', torch shapes' if torch else ''})", None, float(mismatches),
                   float(mismatches), mismatches == 0)
    return check


__all__ = ["C", "OC", "spatial", "conv_contract", "conv_options", "conv_derived", "output_size_section",
           "model_section", "gradient_section", "size_check", "Tensor", "index_symbols"]
