"""The code of an exported index-level module that reads its sizes: the keyword options (stride, padding,
...) checked and bound to their size symbols, the sizes derived from them (an output size), a class
target given as an index, all in ``_prepare``."""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from symderive.export.scaffold import arrays_line
from symderive.index.program import IndexProgram


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
    """A class target may be given as an integer class index, or for a batch as a vector of them (made
    one-hot before the sizes are read, once the argument that fixes its length has the right number of
    axes); a vector must sum to 1, each example's (checked after the sizes)."""
    before, after = [], []
    lead = program.arguments[0].name
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
                   f"        {target} = np.eye({dim})[int({t.name})]",
                   f"    elif {target}.ndim == 1 and arrays[{lead!r}].ndim == {len(shapes[lead]) + 1} "
                   f"and arrays[{other!r}].ndim == {len(shapes[other])}:",
                   f"        {dim}, _indices = arrays[{other!r}].shape[{axis}], np.asarray({t.name})",
                   f"        if _indices.dtype.kind not in 'iu' or not np.all((0 <= _indices) & (_indices < {dim})):",
                   f"            raise ValueError(f\"{t.name}: the class indices of a batch must be integers in "
                   f"0..{{{dim} - 1}}, got {{{t.name}!r}}\")",
                   f"        {target} = np.eye({dim})[_indices]"]
        after += [f"    if np.any(np.abs(np.sum({target}, axis=-1) - 1.0) > 1e-9):",
                  f"        raise ValueError(f\"{t.name}: the target must be one-hot (or sum to 1), or a class index; "
                  f"its entries sum to {{np.sum({target}, axis=-1)}}\")"]
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


def nonempty_code(derived) -> list[str]:
    """Every size read off the arrays is at least 1: an empty axis is a ValueError naming the argument and its
    shape. A derived size is left to its own check (which names the formula it is computed with)."""
    skip = tuple(str(d.symbol) for d in derived)
    message = "{_name}: expected shape {_expected(_name)} with every size at least 1, got shape {arrays[_name].shape}"
    return ["    for _name, _names in SHAPES.items():",
            f"        _empty = [_dim for _dim in _names if _dim not in {skip!r} and _sizes.get(_dim, 1) < 1]",
            "        if _empty:",
            f"            raise ValueError(f\"{message} ({{_empty[0]}} = 0: an empty axis)\")"]


def prepare_fn(program: IndexProgram, call: str, options, derived, shapes) -> list[str]:
    """``_prepare``: the arrays, the sizes read off them (none empty), the checked options and the derived
    sizes."""
    args = [a.name for a in program.arguments]
    from_arrays = {n for names in shapes.values() for n in names}
    class_index, target_sum = target_code(program, shapes)
    prepare = [f"\n\ndef _prepare({call}):", arrays_line(args), *class_index,
               "    _arrays, _sizes = _examples(arrays, True)", *nonempty_code(derived), *target_sum,
               *(f"    {n} = _sizes[{n!r}]" for n in sorted(from_arrays)),
               *option_code(options),
               *(f"    _sizes[{str(s)!r}] = {s}" for o in options for s in o.symbols)]
    for ds, sources in zip(derived, derived_sources(derived, shapes)):
        prepare += derived_size_code(ds, shapes, sources)
    return prepare + ["    return _arrays, _sizes"]
