"""Standalone NumPy modules for index-level derivations (convolution, pooling, CNN).

Every derived index formula ``sum_{vars} coeff * prod_k A_k[affine indices]`` becomes one call of
:func:`symderive.kernels.affine_einsum` (strided views + ``np.einsum``: no Python loop over
positions); a dilation becomes :func:`symderive.kernels.dilate`, the arg-max mask and the maximum of max
pooling :func:`symderive.kernels.window_max`. The kernels are copied into the module, which needs NumPy only.
"""
from __future__ import annotations

import inspect
import string
from dataclasses import dataclass

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from symderive.export.scaffold import ARGUMENTS, HELPER_MARK, LOSS_DOC, arrays_line, place_helpers, preamble, unpack
from symderive.index import kernels
from symderive.index.derive import AdjointOf, Definition, IndexBackward, PointwiseShare
from symderive.index.program import Access, Contract, IndexProgram, Pointwise, SoftmaxCrossEntropy, Term, WindowMax
from symderive.ops.nodes import ACTIVATIONS


@dataclass(frozen=True)
class Option:
    """A keyword argument of the exported functions that sets size symbols (``stride=1`` or a pair).

    ``default`` is an int, or the keyword of another option whose values it copies (pooling's
    ``stride=None`` is the kernel size); ``minimum`` is the smallest allowed value."""

    keyword: str
    symbols: tuple
    default: object
    minimum: int
    doc: str = ""


@dataclass(frozen=True)
class DerivedSize:
    """A size computed from others (an output size), with the quantities a failure message names."""

    symbol: sp.Symbol
    expr: sp.Expr
    text: str = ""  # the formula as people write it, in the size names (default: SymPy's spelling)
    hint: tuple = ()  # ((what, expression), (what, expression)): "the first is larger than the second"


class SizePrinter(PythonCodePrinter):
    """Size arithmetic as Python integers: ``floor(a / b)`` prints as ``(a) // (b)``."""

    def _print_floor(self, e):
        num, den = sp.fraction(sp.together(e.args[0]))
        return f"(({self._print(num)}) // ({self._print(den)}))"

    def _print_Symbol(self, e):
        return e.name


def size_code(expr) -> str:
    return SizePrinter().doprint(sp.sympify(expr))


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


class Emitter:
    def __init__(self, program: IndexProgram):
        self.program = program
        self.letters = Letters()
        self.lines: list[str] = []

    def emit(self, line: str, depth: int = 1):
        self.lines.append("    " * depth + line)

    def axes(self, access: Access, variables: set) -> str:
        """Each index of ``access`` as ``{letter: coefficient, "": offset}`` over the index ``variables``."""
        out = []
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

    def einsum(self, out_index, sums, factors, coeff=1) -> str:
        ranges = dict(sums)
        variables = set(out_index) | set(ranges)
        spec = "".join(self.letters(v) for v in out_index)
        args = ", ".join(f"({f.tensor.name}, {self.axes(f, variables)})" for f in factors)
        call = f"affine_einsum({spec!r}, {self.ranges(ranges)}, {args})"
        return call if coeff == 1 else f"{size_code(coeff)} * {call}"

    def term(self, out_index, out_dims, term: Term) -> str:
        return self.einsum(out_index, list(zip(out_index, out_dims)) + list(term.sums), term.factors, term.coeff)


def forward_lines(em: Emitter, program: IndexProgram):
    for op in program.ops:
        if isinstance(op, Contract):
            value = " + ".join(em.term(op.index, op.out.dims, t) for t in op.terms)
            em.emit(f"{op.out.name} = {'float(' + value + ')' if not op.index else value}")
        elif isinstance(op, Pointwise):
            em.emit(f"{op.out.name} = {ACTIVATIONS[op.fname].numpy.format(op.arg.name)}")
        elif isinstance(op, WindowMax):
            variables = list(op.index) + [v for v, _ in op.window]
            ranges = dict(zip(op.index, op.out.dims)) | dict(op.window)
            letters = "".join(em.letters(v) for v in variables)
            em.emit(f"{op.mask.name}, {op.out.name} = window_max(affine_view({op.read.tensor.name}, "
                    f"{em.axes(op.read, set(variables))}, {letters!r}, {em.ranges(ranges)}), {len(op.window)})")
        elif isinstance(op, SoftmaxCrossEntropy):
            z, y = op.logits.name, op.target.name
            em.emit(f"{op.probs.name} = softmax({z})")
            em.emit(f"{op.out.name} = float(np.max({z}) + np.log(np.sum(np.exp({z} - np.max({z}))))"
                    f" - np.dot({y}, {z}))")


def definition_lines(em: Emitter, d: Definition):
    if d.kind == "product":
        em.emit(f"{d.out.name} = {em.einsum(d.index, list(zip(d.index, d.out.dims)), d.factors)}")
        return
    for inner in d.factors:
        definition_lines(em, inner)
    strides = "{" + ", ".join(f"{axis}: {size_code(s)}" for axis, s in d.strides) + "}"
    em.emit(f"{d.out.name} = dilate({d.of.name}, {strides})")


def adjoint_lines(em: Emitter, a: AdjointOf):
    parts = []
    for share in a.shares:
        if isinstance(share, PointwiseShare):
            parts.append(ElementPrinter().doprint(share.expr))
            continue
        for d in share.definitions:
            definition_lines(em, d)
        parts += [em.term(a.index, a.tensor.dims, t) for t in share.result]
    em.emit(f"{a.adjoint.name} = {' + '.join(parts) or f'np.zeros_like({a.tensor.name})'}")


def kernel_source() -> str:
    names = ["affine_view", "affine_einsum", "dilate", "window_max", "softmax"]
    return "\n\n".join(inspect.getsource(getattr(kernels, n)) for n in names)


def option_code(options) -> list[str]:
    """Check the keyword options and bind their size symbols."""
    lines = []
    for o in options:
        names = ", ".join(map(str, o.symbols)) + ("," if len(o.symbols) == 1 else "")
        fallback = "None"
        if isinstance(o.default, str):
            fallback = "(" + ", ".join(map(str, option_named(options, o.default).symbols)) + ",)"
        lines.append(f"    {names} = _option({o.keyword!r}, {o.keyword}, {len(o.symbols)}, {o.minimum}, {fallback})")
    return lines


def option_named(options, keyword) -> Option:
    return next(o for o in options if o.keyword == keyword)


def signature_default(o: Option):
    return o.default if isinstance(o.default, int) else None


OPTION_HELPERS = '''

def _option(keyword, value, n, minimum, default):
    """An int or a tuple of n ints, each at least ``minimum`` (None: the default tuple)."""
    if value is None:
        if default is None:
            raise ValueError(f"{keyword} must be given")
        return default
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{keyword} must be an integer" + (f" or a tuple of {n} integers" if n > 1 else "")
                         + f", got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{keyword} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def _formula(text, values):
    """``text`` with every size name replaced by its value."""
    import re
    return re.sub(r"[A-Za-z_][A-Za-z_0-9]*", lambda m: str(values.get(m.group(), m.group())), text)
'''


def target_code(program: IndexProgram, shapes: dict) -> tuple[list[str], list[str]]:
    """A class target may be given as an integer class index (made one-hot before the sizes are read,
    once the argument that fixes its length has the right number of axes); a vector must sum to 1
    (checked after the sizes)."""
    before, after = [], []
    for t in program.constants:
        (dim,) = shapes[t.name]
        other = next(a for a, names in shapes.items() if a != t.name and dim in names)
        axis, target = shapes[other].index(dim), f"arrays[{t.name!r}]"
        before += [f"    if {target}.ndim == 0 and arrays[{other!r}].ndim == {len(shapes[other])}:",
                   f"        {dim} = arrays[{other!r}].shape[{axis}]",
                   f"        if isinstance({t.name}, bool) or not isinstance({t.name}, (int, np.integer)) "
                   f"or not 0 <= {t.name} < {dim}:",
                   f"            raise ValueError(f\"{t.name}: a class index must be an integer in 0..{{{dim} - 1}}, "
                   f"got {{{t.name}!r}}\")",
                   f"        {target} = np.eye({dim})[int({t.name})]"]
        after += [f"    if abs(float(np.sum({target})) - 1.0) > 1e-9:",
                  f"        raise ValueError(f\"{t.name}: the target must be one-hot (or sum to 1), or a class index; "
                  f"its entries sum to {{float(np.sum({target}))}}\")"]
    return before, after


def derived_size_code(ds: DerivedSize, shapes: dict, sources: list[str]) -> list[str]:
    """Compute a derived size; an empty output, or an argument holding the size with another value, is a
    ValueError naming the arguments the size is computed from (``sources``) or the one that holds it."""
    name = str(ds.symbol)
    formula = size_code(ds.expr)
    shown = ds.text or sp.sstr(ds.expr)
    hint = " is larger than ".join(f"{text} = {{_formula({sp.sstr(e)!r}, _sizes)}} = {{{size_code(e)}}}"
                                   for text, e in ds.hint)
    origin = ", ".join(f"{k} of shape {{arrays[{k!r}].shape}}" for k in sources)
    hint = f" ({hint})" if hint else ""
    lines = [f"    _value = {formula}",
             "    if _value < 1:",
             f"        raise ValueError(f\"{origin or 'these options'}: {name} = {shown} = "
             f"{{_formula({shown!r}, _sizes)}} = {{_value}}: the output would be empty{hint}\")"]
    holder = next((k for k, names in shapes.items() if name in names), None)
    if holder:
        expected = "(" + ", ".join(shapes[holder]) + ")"
        lines += [f"    if _sizes[{name!r}] != _value:",
                  f"        raise ValueError(f\"{holder}: expected shape {expected} with {name} = {shown} = "
                  f"{{_formula({shown!r}, _sizes)}} = {{_value}} "
                  f"for {origin + ' and ' if origin else ''}these options, got shape {{arrays[{holder!r}].shape}}\")"]
    lines.append(f"    _sizes[{name!r}] = {name} = _value")
    return lines


def derived_sources(derived, shapes: dict) -> list[list[str]]:
    """For each derived size, the arguments whose sizes it is computed from (through earlier derived sizes too)."""
    feeds, out = {}, []
    from_arrays = {n for names in shapes.values() for n in names}
    for ds in derived:
        feeds[str(ds.symbol)] = set().union(*({str(s)} & from_arrays | feeds.get(str(s), set())
                                             for s in ds.expr.free_symbols))
        out.append([k for k, names in shapes.items() if feeds[str(ds.symbol)] & set(names)])
    return out


def variant_functions(program: IndexProgram, bw: IndexBackward, suffix: str, unpack: list[str]) -> list[str]:
    """``_forward{suffix}`` (every value) and ``_backward{suffix}`` (the gradients) of one program."""
    em = Emitter(program)
    forward_lines(em, program)
    values = [op.out.name for op in program.ops] + [op.mask.name for op in program.ops if isinstance(op, WindowMax)] \
        + [op.probs.name for op in program.ops if isinstance(op, SoftmaxCrossEntropy)]
    fwd = [f"\n\ndef _forward{suffix}(_args, _sizes):", *unpack, *em.lines,
           "    return {" + ", ".join(f"{v!r}: {v}" for v in values) + "}"]
    em.lines = []
    for a in bw.adjoints:
        adjoint_lines(em, a)
    bwd = [f"\n\ndef _backward{suffix}(_args, _sizes):", *unpack, f"    _values = _forward{suffix}(_args, _sizes)",
           f"    {', '.join(values)} = " + ", ".join(f"_values[{v!r}]" for v in values), *em.lines,
           "    return {" + ", ".join(f"{a.tensor.name!r}: {a.adjoint.name}" for a in bw.adjoints
                                   if a.tensor in program.differentiated) + "}"]
    return fwd + bwd


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
    all_sizes = size_names + [str(s) for o in options for s in o.symbols] + [str(d.symbol) for d in derived]
    unpacked = [unpack(args, "_args"), unpack(all_sizes, "_sizes")]
    functions = []
    for tag, p, bw in variants:
        functions += variant_functions(p, bw, f"_{tag}" if len(variants) > 1 else "", unpacked)
    dispatch, calls = variant_dispatch([tag for tag, _, _ in variants], variant_keyword)
    body = [*preamble(doc, shapes, ("import numpy as np", "from numpy.lib.stride_tricks import as_strided")), "", "",
            kernel_source().rstrip(), ARGUMENTS.rstrip(), OPTION_HELPERS.rstrip() + HELPER_MARK]
    lines = (body + prepare_fn(program, call, options, derived, shapes) + functions + dispatch
             + public_fns(sig, call, calls, program.loss.name))
    return place_helpers("\n".join(lines) + "\n")


def nonempty_code(derived) -> list[str]:
    """Every size read off the arrays is at least 1: an empty axis is a ValueError naming the argument and its
    shape. A derived size is left to its own check (which names the formula it is computed with)."""
    skip = tuple(str(d.symbol) for d in derived)
    message = "{_name}: expected shape {_expected(_name)} with every size at least 1, got shape {arrays[_name].shape}"
    return ["    for _name, _names in SHAPES.items():",
            "        for _dim, _actual in zip(_names, arrays[_name].shape):",
            f"            if _actual < 1 and _dim not in {skip!r}:",
            f"                raise ValueError(f\"{message} ({{_dim}} = 0: an empty axis)\")"]


def prepare_fn(program: IndexProgram, call: str, options, derived, shapes) -> list[str]:
    """``_prepare``: the arrays, the sizes read off them (none empty), the checked options and the derived sizes."""
    args = [a.name for a in program.arguments]
    from_arrays = {n for names in shapes.values() for n in names}
    class_index, target_sum = target_code(program, shapes)
    prepare = [f"\n\ndef _prepare({call}):", arrays_line(args), *class_index,
               "    _sizes = _dims(arrays)", *nonempty_code(derived), *target_sum,
               *(f"    {n} = _sizes[{n!r}]" for n in sorted(from_arrays)),
               *option_code(options),
               *(f"    _sizes[{str(s)!r}] = {s}" for o in options for s in o.symbols)]
    for ds, sources in zip(derived, derived_sources(derived, shapes)):
        prepare += derived_size_code(ds, shapes, sources)
    return prepare + ["    return arrays, _sizes"]


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
            '    """Every value of the forward pass, keyed by name (the loss is "L")."""',
            f"    return {fwd_call}(*_prepare({call}))",
            f"\n\ndef loss({sig}):",
            LOSS_DOC,
            f"    return {fwd_call}(*_prepare({call}))[{loss_name!r}]",
            f"\n\ndef grad({sig}):",
            '    """dL/d(argument) for every differentiated argument, keyed by name (same shape as the argument)."""',
            f"    return {bwd_call}(*_prepare({call}))"]
