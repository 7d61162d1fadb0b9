"""Standalone NumPy modules for index-level derivations (convolution, pooling, CNN).

Every derived index formula ``sum_{vars} coeff * prod_k A_k[affine indices]`` becomes one call of
:func:`symderive.kernels.affine_einsum` (strided views + ``np.einsum``: no Python loop over
positions); a dilation becomes :func:`symderive.kernels.dilate`, the arg-max mask and the maximum of max
pooling :func:`symderive.kernels.window_max`. The kernels are copied into the module, which needs NumPy only.

The gradient of a tensor read through a window (``X[c, S i + D p - P]``) is not the eliminated gather
over a dilated, padded copy of the upstream gradient but the scatter of the chain rule before
elimination (:func:`symderive.kernels.affine_scatter`, col2im): one matrix product onto the window's
positions, added back slice by slice. ``_backward`` hands ``_forward`` a cache, so the copy of a window
view one product makes (im2col) serves every later product that reads the same view (the weight gradient),
and asks it for no loss value. A sum of terms is the first new array with the others added into it in place
(``Y = W * X; Y += b``: no broadcast copy of the bias, no array for the partial sum); a returned gradient that
is a forward value (dL/dG = Y) is that array, not a copy.
"""
from __future__ import annotations

import inspect
import re
import string

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from symderive.export.scaffold import (
    ARGUMENTS,
    BATCH_AXIS,
    HELPER_MARK,
    LOSS_DOC,
    place_helpers,
    preamble,
    unpack,
)
from symderive.index import kernels
from symderive.index.derive import AdjointOf, Definition, IndexBackward, PointwiseShare
from symderive.index.program import Access, Contract, IndexProgram, Pointwise, SoftmaxCrossEntropy, Term, WindowMax
from symderive.index.sizes_code import (  # noqa: F401  (DerivedSize, Option: the derivations import them from here)
    OPTION_HELPERS,
    DerivedSize,
    Option,
    prepare_fn,
    signature_default,
    size_code,
)
from symderive.ops.nodes import ACTIVATIONS


class ElementPrinter(PythonCodePrinter):
    """A pointwise formula of Indexed entries as whole-array NumPy (every entry read at the same index)."""

    def _print_Indexed(self, e):
        return e.base.name

    def _print_Function(self, e):
        name = type(e).__name__
        if name in ACTIVATIONS:
            return ACTIVATIONS[name].numpy.format(self._print(e.args[0]))
        return super()._print_Function(e)

    _print_tanh = _print_exp = _print_log = _print_Function


class Letters:
    """One einsum letter per index variable (its own name when that is one free letter)."""

    def __init__(self):
        self.map: dict = {}

    def __call__(self, v) -> str:
        if v not in self.map:
            taken = set(self.map.values())
            own = v.name if len(v.name) == 1 and v.name.isalpha() else ""
            self.map[v] = own if own and own not in taken else next(c for c in string.ascii_letters if c not in taken)
        return self.map[v]


EXAMPLE = sp.Symbol("_example", integer=True, nonnegative=True)  # the batch axis, first in every per-example array


def per_example_arguments(program: IndexProgram) -> list[str]:
    """The arguments that take a batch axis: the input (the first argument) and what the loss reads beside
    the values (the upstream gradient G, the target y); the others are parameters, shared by the batch."""
    loss_op = program.producer(program.loss)
    names = {a.name for a in program.arguments}
    read = {f.tensor.name for t in getattr(loss_op, "terms", ()) for f in t.factors}
    read |= {op_input.name for op_input in (getattr(loss_op, "target", None),) if op_input is not None}
    return [a.name for a in program.arguments if a.name in read & names or a == program.arguments[0]]


class Emitter:
    def __init__(self, program: IndexProgram):
        self.program = program
        self.letters = Letters()
        self.lines: list[str] = []
        self.batched: set[str] = set(per_example_arguments(program))  # names of the arrays with a batch axis
        self.values: set[str] = set()  # the forward values (arrays of the call's own, never an argument)
        self.aliased: set[str] = set()  # the forward values a returned gradient is a view of

    def mark(self, out: str, reads) -> bool:
        """Record that ``out`` has a batch axis when any of the arrays it ``reads`` has one."""
        if any(name in self.batched for name in reads):
            self.batched.add(out)
        return out in self.batched

    def emit(self, line: str, depth: int = 1):
        self.lines.append("    " * depth + line)

    def axes(self, access: Access, variables: set) -> str:
        """Each index of ``access`` as ``{letter: coefficient, "": offset}`` over the index ``variables``."""
        out = ["{" + repr(self.letters(EXAMPLE)) + ": 1}"] if access.tensor.name in self.batched else []
        for e in access.index:
            e = sp.expand(e)
            items = {self.letters(v): e.coeff(v) for v in sorted(e.free_symbols, key=lambda s: s.name)
                     if v in variables}
            const = e.subs({v: 0 for v in e.free_symbols if v in variables})
            parts = [f"{k!r}: {size_code(c)}" for k, c in items.items()]
            if const != 0:
                parts.append(f"'': {size_code(const)}")
            out.append("{" + ", ".join(parts) + "}")
        return "[" + ", ".join(out) + "]"

    def ranges(self, ranges: dict) -> str:
        """``{letter: number of values}`` of each variable."""
        return "{" + ", ".join(f"{self.letters(v)!r}: {size_code(n)}" for v, n in ranges.items()) + "}"

    def einsum(self, out_index, sums, factors, coeff=1, out=None, fresh=True) -> str:
        """``out[out_index] = coeff sum_{sums} prod(factors)``; the batch axis is free when ``out`` (a name)
        has one, summed over otherwise (the loss, and a parameter's gradient, is the sum over the examples).
        ``fresh=False``: the value may be a view, for a sum that only reads it (``Y += ...``)."""
        batched = out in self.batched
        read = any(f.tensor.name in self.batched for f in factors)
        ranges = dict(sums) | ({EXAMPLE: sp.Symbol("_B")} if batched or read else {})
        out_index = (EXAMPLE, *out_index) if batched else tuple(out_index)
        variables = set(out_index) | set(ranges)
        spec = "".join(self.letters(v) for v in out_index)
        args = "".join(f"({f.tensor.name}, {self.axes(f, variables)}), " for f in factors)
        call = f"affine_einsum({spec!r}, {self.ranges(ranges)}, {args}cache=_cache{'' if fresh else ', fresh=False'})"
        return call if coeff == 1 else f"{size_code(coeff)} * {call}"

    def scatter(self, a: AdjointOf, chain: Term) -> str:
        """``d_A`` of one read ``A[e(v)]`` as a scatter (:func:`affine_scatter`): T[v] = the chain's product
        summed over the variables no index e holds, added at A[e(v)], instead of a gather over a dilated,
        padded copy of the upstream gradient."""
        read = tuple(e for _, e in chain.deltas)
        own = [v for v in dict(chain.sums) if any(v in sp.expand(e).free_symbols for e in read)]
        batched = a.adjoint.name in self.batched
        ranges = dict(chain.sums) | ({EXAMPLE: sp.Symbol("_B")} if batched or any(
            f.tensor.name in self.batched for f in chain.factors) else {})
        variables = set(ranges)
        spec = "".join(self.letters(v) for v in ([EXAMPLE] if batched else []) + own)
        args = "".join(f"({f.tensor.name}, {self.axes(f, variables)}), " for f in chain.factors)
        call = (f"affine_scatter(np.shape({a.tensor.name}), {self.axes(Access(a.adjoint, read), variables)}, "
                f"{spec!r}, {self.ranges(ranges)}, {args}cache=_cache)")
        return call if chain.coeff == 1 else f"{size_code(chain.coeff)} * {call}"

    def term(self, out_index, out_dims, term: Term, out: str, fresh=True) -> str:
        return self.einsum(out_index, list(zip(out_index, out_dims)) + list(term.sums), term.factors, term.coeff, out,
                           fresh)

    def sum_lines(self, out: str, parts: list[tuple]):
        """``out`` = the sum of ``parts``, each ``(fresh, view)``: the code of a new array (None when the part
        may alias another array) and the code of its value for reading. The first new array is the sum's
        own and the others are added into it in place (no array for each partial sum, no copy of a
        broadcast bias)."""
        first = next((k for k, (fresh, _) in enumerate(parts) if fresh), None)
        if first is None or len(parts) == 1:
            self.emit(f"{out} = {' + '.join(fresh or view for fresh, view in parts)}")
            return
        self.emit(f"{out} = {parts[first][0]}")
        for k, (_, view) in enumerate(parts):
            if k != first:
                self.emit(f"{out} += {view}")


def forward_lines(em: Emitter, program: IndexProgram):
    for op in program.ops:
        if isinstance(op, Contract):
            if op.out != program.loss:  # the loss is the sum over the batch
                em.mark(op.out.name, [f.tensor.name for t in op.terms for f in t.factors])
            if not op.index:
                value = f"float({' + '.join(em.term((), (), t, op.out.name) for t in op.terms)})"
                em.emit(f"{op.out.name} = {value}" if op.out != program.loss else loss_line(op.out.name, value))
                continue
            terms = sorted(op.terms, key=lambda t: -len(t.factors))  # a product first: a new array to add into
            em.sum_lines(op.out.name, [(em.term(op.index, op.out.dims, t, op.out.name),
                                        em.term(op.index, op.out.dims, t, op.out.name, fresh=False)) for t in terms])
        elif isinstance(op, Pointwise):
            em.mark(op.out.name, [op.arg.name])
            em.emit(f"{op.out.name} = {ACTIVATIONS[op.fname].numpy.format(op.arg.name)}")
        elif isinstance(op, WindowMax):
            batch = [EXAMPLE] if em.mark(op.out.name, [op.read.tensor.name]) else []
            em.mark(op.mask.name, [op.read.tensor.name])
            variables = batch + list(op.index) + [v for v, _ in op.window]
            ranges = dict(zip(op.index, op.out.dims)) | dict(op.window) | ({EXAMPLE: sp.Symbol("_B")} if batch else {})
            letters = "".join(em.letters(v) for v in variables)
            em.emit(f"{op.mask.name}, {op.out.name} = window_max(affine_view({op.read.tensor.name}, "
                    f"{em.axes(op.read, set(variables))}, {letters!r}, {em.ranges(ranges)}), {len(op.window)})")
        elif isinstance(op, SoftmaxCrossEntropy):
            z, y = op.logits.name, op.target.name
            em.mark(op.probs.name, [z])
            em.emit(f"{op.probs.name} = softmax({z})")
            value = (f"float(np.sum(np.max({z}, axis=-1) + np.log(np.sum(np.exp({z} - np.max({z}, axis=-1, "
                     f"keepdims=True)), axis=-1)) - np.sum({y} * {z}, axis=-1)))")
            em.emit(loss_line(op.out.name, value))


def loss_line(name: str, value: str) -> str:
    """The loss's assignment: ``_backward`` asks ``_forward`` for the values the gradients read, not the loss."""
    return f"{name} = {value} if _loss else None"


def definition_lines(em: Emitter, d: Definition):
    if d.kind == "product":
        em.mark(d.out.name, [f.tensor.name for f in d.factors])
        em.emit(f"{d.out.name} = {em.einsum(d.index, list(zip(d.index, d.out.dims)), d.factors, out=d.out.name)}")
        return
    for inner in d.factors:
        definition_lines(em, inner)
    shift = int(em.mark(d.out.name, [d.of.name]))  # the axes of a batched array move one along
    strides = "{" + ", ".join(f"{axis + shift}: {size_code(s)}" for axis, s in d.strides) + "}"
    em.emit(f"{d.out.name} = dilate({d.of.name}, {strides})")


def adjoint_lines(em: Emitter, a: AdjointOf):
    """``d_A`` = the sum of its shares; it has a batch axis when A has one (a parameter's sums the examples)."""
    em.mark(a.adjoint.name, [a.tensor.name])
    parts = []
    for share in a.shares:
        if isinstance(share, PointwiseShare):
            parts.append((None, ElementPrinter().doprint(share.expr)))  # may be an argument itself (d_Y = G)
            continue
        if windowed(share):
            parts += [(em.scatter(a, chain),) * 2 for chain in share.chain]
            continue
        for d in share.definitions:
            definition_lines(em, d)
        parts += [(em.term(a.index, a.tensor.dims, t, a.adjoint.name, fresh=not own_view(em, a, share, t)),
                   em.term(a.index, a.tensor.dims, t, a.adjoint.name, fresh=False)) for t in share.result]
    em.sum_lines(a.adjoint.name, parts or [(None, f"np.zeros_like({a.tensor.name})")])


def own_view(em: Emitter, a: AdjointOf, share, term: Term) -> bool:
    """Whether a returned gradient that is this one term alone may be a view of the forward values it reads
    (dL/dG = Y for L = sum G Y: Y itself, not a copy): they are the call's own arrays, and no other returned
    gradient is a view of them."""
    names = {f.tensor.name for f in term.factors}
    if a.tensor not in em.program.differentiated or len(a.shares) != 1 or len(share.result) != 1 \
            or not names <= em.values - em.aliased:
        return False
    em.aliased |= names
    return True


def windowed(share) -> bool:
    """Whether a share reads its tensor through a window (an index of several variables, or a stride): its
    adjoint is then a scatter (col2im), not a gather over a dilated copy of the upstream gradient."""
    if len(share.chain) != 1 or any(t.deltas for t in share.result):
        return False
    reads = [sp.expand(e) for _, e in share.chain[0].deltas]
    summed = set(dict(share.chain[0].sums))
    return any(len(e.free_symbols & summed) > 1 or any(abs(e.coeff(v)) != 1 for v in e.free_symbols & summed)
               for e in reads)


def kernel_source() -> str:
    names = ["affine_pads", "affine_strides", "affine_view", "plain_read", "zero_padded", "affine_einsum",
             "contraction", "contract_pair", "memory_order", "grouped_order", "as_matrix", "summed_alone",
             "affine_scatter", "window_slices", "strided_window", "kept_variables", "dilate", "window_max", "softmax"]
    return "\n\n".join(inspect.getsource(getattr(kernels, n)) for n in names)


def variant_functions(program: IndexProgram, bw: IndexBackward, suffix: str,
                      unpack: list[str]) -> tuple[list[str], set[str]]:
    """``_forward{suffix}`` (every value) and ``_backward{suffix}`` (the gradients) of one program, and the
    names of the values with a batch axis."""
    em = Emitter(program)
    forward_lines(em, program)
    values = [op.out.name for op in program.ops] + [op.mask.name for op in program.ops if isinstance(op, WindowMax)] \
        + [op.probs.name for op in program.ops if isinstance(op, SoftmaxCrossEntropy)]
    em.values = set(values)
    fwd = [f"\n\ndef _forward{suffix}(_args, _sizes, _cache=None, _loss=True):", *unpack, *em.lines,
           "    return {" + ", ".join(f"{v!r}: {v}" for v in values) + "}"]
    em.lines = []
    for a in bw.adjoints:
        adjoint_lines(em, a)
    em.lines = live_lines(em.lines, {a.adjoint.name for a in bw.adjoints if a.tensor in program.differentiated})
    bwd = [f"\n\ndef _backward{suffix}(_args, _sizes):", *unpack, "    _cache = {}  # the im2col copies, made once",
           f"    _values = _forward{suffix}(_args, _sizes, _cache, _loss=False)",
           f"    {', '.join(values)} = " + ", ".join(f"_values[{v!r}]" for v in values), *em.lines,
           "    return {" + ", ".join(f"{a.tensor.name!r}: _gradient({a.tensor.name!r}, {a.adjoint.name}, _sizes)"
                                   for a in bw.adjoints if a.tensor in program.differentiated) + "}"]
    return fwd + bwd, em.batched & set(values)


def live_lines(lines: list[str], needed: set[str]) -> list[str]:
    """The assignments ``name = ...`` (and ``name += ...``) that the ``needed`` names read, directly or through
    each other (an adjoint that aliases another array, ``d_Y = G``, and that no later line reads, goes)."""
    kept = []
    for line in reversed(lines):
        target, expr = re.match(r"(\w+) \+?= (.*)", line.strip()).groups()
        if target in needed:
            kept.append(line)
            needed = needed | set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expr))
    return kept[::-1]


def module_source(variants, doc: str, options, derived, shapes, variant_keyword: str = "") -> str:
    """The text of a standalone module: SHAPES, forward, loss, grad (and the kernels).

    ``variants``: ``(tag, program, backward)`` triples over the same arguments; with more than one,
    the keyword ``variant_keyword`` (default: the first tag) selects one (pooling's ``mode``)."""
    program = variants[0][1]
    args = [a.name for a in program.arguments]
    keywords = [f"{o.keyword}={signature_default(o)}" for o in options]
    if len(variants) > 1:
        keywords.append(f"{variant_keyword}={variants[0][0]!r}")
    sig, call = ", ".join(args + keywords), ", ".join(args + [o.keyword for o in options])
    size_names = sorted({n for names in shapes.values() for n in names})
    all_sizes = size_names + [str(s) for o in options for s in o.symbols] + [str(d.symbol) for d in derived] + ["_B"]
    unpacked = [unpack(args, "_args"), unpack(all_sizes, "_sizes")]
    functions, per_example = [], set()
    for tag, p, bw in variants:
        lines, batched = variant_functions(p, bw, f"_{tag}" if len(variants) > 1 else "", unpacked)
        functions, per_example = functions + lines, per_example | batched
    dispatch, calls = variant_dispatch([tag for tag, _, _ in variants], variant_keyword)
    batch = {name: "data" for name in per_example_arguments(program)}
    body = [*preamble(doc, shapes, batch, ("import itertools", "import math", "import numpy as np",
                                            "from numpy.lib.stride_tricks import as_strided")),
            f"_PER_EXAMPLE = {tuple(sorted(per_example))!r}  # the values with a batch axis", "", "",
            kernel_source().rstrip(), ARGUMENTS.rstrip(), BATCH_AXIS.rstrip(), OPTION_HELPERS.rstrip() + HELPER_MARK]
    lines = (body + prepare_fn(program, call, options, derived, shapes) + functions + dispatch
             + public_fns(sig, call, calls, program.loss.name))
    return place_helpers("\n".join(lines) + "\n")


def variant_dispatch(tags: list[str], variant_keyword: str) -> tuple[list[str], tuple[str, str]]:
    """With several variants, ``_variant`` (the checked keyword) and the tables ``_FORWARD``,
    ``_BACKWARD``; and the expressions that call the forward and backward function of a variant."""
    if len(tags) == 1:
        return [], ("_forward", "_backward")
    pick = f"_variant({variant_keyword}, {variant_keyword!r}, {tags!r})"
    lines = ["\n\ndef _variant(value, keyword, known):",
             "    if value not in known:",
             "        raise ValueError(f\"{keyword} must be one of {', '.join(map(repr, known))}, not {value!r}\")",
             "    return value",
             "\n\n_FORWARD = {" + ", ".join(f"{t!r}: _forward_{t}" for t in tags) + "}",
             "_BACKWARD = {" + ", ".join(f"{t!r}: _backward_{t}" for t in tags) + "}"]
    return lines, (f"_FORWARD[{pick}]", f"_BACKWARD[{pick}]")


def public_fns(sig: str, call: str, calls: tuple[str, str], loss_name: str) -> list[str]:
    """``forward``, ``loss`` and ``grad``: each prepares the arguments and calls the variant's function."""
    fwd_call, bwd_call = calls
    return [f"\n\ndef forward({sig}):",
            '    """Every value of the forward pass, keyed by name (the loss is "L"); with a batch, one per',
            '    example."""',
            f"    _args, _sizes = _prepare({call})",
            "    return {name: _per_example(value, _sizes, False) if name in _PER_EXAMPLE else value",
            f"            for name, value in {fwd_call}(_args, _sizes).items()}}",
            f"\n\ndef loss({sig}):",
            LOSS_DOC,
            f"    return {fwd_call}(*_prepare({call}))[{loss_name!r}]",
            f"\n\ndef grad({sig}):",
            '    """dL/d(argument) for every differentiated argument, keyed by name (same shape as the argument)."""',
            f"    return {bwd_call}(*_prepare({call}))"]
