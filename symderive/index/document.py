r"""The document of an index-level model without prose of its own (a user's convolution), and the model
section every index-level document opens with.

The generic document reads, for any :class:`~symderive.index.program.IndexProgram`:

1. *Model*: the forward equations in order (``Y_{c,i,j} = \sum_{p,q} W_{c,p,q} X_{c, 2 i + p - 1, ...} + b_{c}``,
   ``h_{o,i} = \sigma(z_{o,i})``, ``Y = \max_{p,q} ...``), the arrays' sizes, the derived sizes with their
   formulas, the range of every index and the convention that arrays are zero outside their range;
2. one section per adjoint, in the order they are computed (from the loss back to the arguments): the
   chain rule with one Kronecker delta per axis, any dilation of a strided gradient, the deltas summed
   away, and the operation the result is (:func:`symderive.index.render.operation`, read off the index
   structure: a sum for a bias, a cross-correlation for a weight, a full convolution with the flipped
   kernel for an input).
"""
from __future__ import annotations

from functools import singledispatch

from symderive.document.document import Document, Section, Step
from symderive.document.prose import say
from symderive.index.program import (
    Contract,
    Pointwise,
    SoftmaxCrossEntropy,
    Tensor,
    WindowMax,
    over_one_denominator,
    tensors_of,
)
from symderive.index.render import (
    access_latex,
    base_of,
    expr_latex,
    gradient_section,
    ranges_text,
    symbol_latex,
    tensor_latex,
    term_latex,
)
from symderive.ops.registry import ACTIVATIONS


def dims_latex(t: Tensor) -> str:
    return r" \times ".join(expr_latex(x) for x in t.dims) or "1"


def model_section(equations, tensors, text="", options=None, ranges=None) -> Section:
    """The forward equations in order (each a Contract, rendered, or a Step written out), the sizes,
    and the ranges of the indices (``ranges``: ``{variable: size}``; default: the summed ones)."""
    steps, summed = [], {}
    for e in equations:
        if isinstance(e, Contract):
            steps.append(Step(access_latex(e.out[e.index], (), options),
                              " + ".join(term_latex(t, e.index, options) for t in e.terms)))
            for t in e.terms:
                for v, n in t.sums:
                    summed.setdefault(v, n)
        else:
            steps.append(e)
    ranges = summed if ranges is None else ranges
    sizes = ", ".join(rf"${tensor_latex(t, options)} \in \mathbb{{R}}^{{{dims_latex(t)}}}$" for t in tensors)
    base = base_of(options)
    body = say(options,
               f"Sizes: {sizes}. Indices start at {base} and run over {ranges_text(ranges.items(), options)}. Every "
               "array is zero outside its index range: that is what zero padding means, and it lets every sum run over "
               "the whole kernel. ",
               f"크기: {sizes}. 인덱스는 {base}부터 시작하며 범위는 {ranges_text(ranges.items(), options)}입니다. 모든 "
               "배열은 인덱스 범위 밖에서 0입니다. 제로 패딩이 바로 이 뜻이고, 덕분에 모든 합이 커널 전체에 걸쳐 돌 수 "
               "있습니다. ") + text
    return Section(say(options, "Model", "모델"), body.strip(), tuple(steps))


# ---------------------------------------------------------------------------------------------
# The forward equation of each operation.


@singledispatch
def forward_steps(op, options) -> list:
    """The forward equations of one operation: a Contract (rendered by :func:`model_section`) or Steps."""
    raise TypeError(f"no forward equation for a {type(op).__name__}")


@forward_steps.register
def _(op: Contract, options) -> list:
    return [op]


@forward_steps.register
def _(op: Pointwise, options) -> list:
    f, arg = ACTIVATIONS[op.fname].latex, access_latex(op.arg[op.index], (), options)
    value = f"{f[:-1]}{arg}}}" if f.endswith("{}") else rf"{f}\left({arg}\right)"
    return [Step(access_latex(op.out[op.index], (), options), value)]


@forward_steps.register
def _(op: WindowMax, options) -> list:
    window = ",".join(symbol_latex(v) for v, _ in op.window)
    read = access_latex(op.read, (), options)
    mask = access_latex(op.mask[op.index + tuple(v for v, _ in op.window)], (), options)
    return [Step(access_latex(op.out[op.index], (), options),
                 rf"\max_{{{window}}} {read} = \sum_{{{window}}} {mask} {read}")]


@forward_steps.register
def _(op: SoftmaxCrossEntropy, options) -> list:
    k, z, y, p = symbol_latex(op.index), op.logits.tex, op.target.tex, op.probs.tex
    return [Step(f"{p}_{{{k}}}", rf"\frac{{e^{{{z}_{{{k}}}}}}}{{\sum_{{l}} e^{{{z}_{{l}}}}}}"),
            Step(op.out.tex, rf"-\sum_{{{k}}} {y}_{{{k}}} \log {p}_{{{k}}}")]


def index_ranges(program) -> dict:
    """Every index variable of the program with its number of values, in order of appearance."""
    ranges = {}
    for op in program.ops:
        if isinstance(op, WindowMax):
            op = op.as_contract()
        if isinstance(op, SoftmaxCrossEntropy):
            ranges.setdefault(op.index, op.logits.dims[0])
            continue
        ranges.update({v: n for v, n in zip(op.index, op.out.dims) if v not in ranges})
        for t in getattr(op, "terms", ()):
            ranges.update({v: n for v, n in t.sums if v not in ranges})
    return ranges


def derived_text(derived, options) -> str:
    """`` where $N_1 = \\lfloor ... \\rfloor + 1$`` for the sizes computed from others."""
    if not derived:
        return ""
    formulas = ", ".join(f"${symbol_latex(d.symbol)} = {expr_latex(over_one_denominator(d.expr))}$" for d in derived)
    return say(options, f"The sizes computed from the others: {formulas}. ",
               f"다른 크기에서 계산되는 크기: {formulas}. ")


def program_section(program, derived, options) -> Section:
    """The model section of any index program: every operation's equations, every array, every index."""
    equations = [e for op in program.ops for e in forward_steps(op, options)]
    tensors = list(program.arguments) + [op.out for op in program.ops if op.out != program.loss]
    return model_section(equations, tensors, derived_text(derived, options), options, index_ranges(program))


def index_document(d, options) -> Document:
    """The model, then the adjoint of every value and argument of every variant (see the module docstring)."""
    sections = []
    for tag, program in d.variants:
        prefix = f"{tag}: " if len(d.variants) > 1 else ""
        model = program_section(program, d.engine.derived, options)
        sections.append(Section(prefix + model.title, model.text, model.steps))
        backward = d.backwards[tag]
        texs = {t.name: t.tex for t in tensors_of(program)} | {a.adjoint.name: a.adjoint.tex for a in backward.adjoints}
        for a in (a for a in backward.adjoints if a.tensor not in program.given):
            section = gradient_section(backward, a.tensor, texs, options)
            sections.append(Section(prefix + section.title, section.text, section.steps))
    return Document(*d.heading(options), tuple(sections), tags=("deep-learning", "backpropagation", "convolution"))
