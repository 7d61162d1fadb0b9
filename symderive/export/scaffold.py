"""What every exported module has, whatever the level that generated it.

An exported module reads, top to bottom: its docstring, ``import numpy as np``, ``SHAPES`` (argument
name -> the size names of its axes), the helpers its code calls (``_sigmoid``), ``_dims`` (the sizes
read off the arrays, with an error that names the argument, the expected and the actual shape), a
``_prepare`` that converts the arguments to float64 arrays and checks them, then the level's own
functions and the public ``forward``, ``loss`` and ``grad``.
"""
from __future__ import annotations

HELPER_MARK = "# <helpers>"  # where the helpers the module calls go (see ``place_helpers``)
HELPERS = {
    "_sigmoid(": '''

def _sigmoid(x):
    """The logistic function, computed stably as (1 + tanh(x/2)) / 2."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))
''',
}

DIMS = '''

def _dims(arrays):
    """Sizes read off the arrays; a ValueError names the argument, the expected and the actual shape."""
    dims, source = {}, {}
    for name, names in SHAPES.items():
        shape = arrays[name].shape
        expected = "(" + ", ".join(names) + ")"
        if len(shape) != len(names):
            raise ValueError(f"{name}: expected a {len(names)}-D array of shape {expected}, got shape {shape}")
        for dim, actual in zip(names, shape):
            if dims.setdefault(dim, actual) != actual:
                other = source[dim]
                raise ValueError(f"{name}: expected shape {expected} with {dim} = {dims[dim]} (as in {other}, "
                                 f"of shape {arrays[other].shape}), got shape {shape}")
            source.setdefault(dim, name)
    for name in dims:  # a compound size (a concatenation) must be the sum of its parts
        parts = name.split(" + ")
        if len(parts) > 1 and all(p in dims for p in parts) and sum(dims[p] for p in parts) != dims[name]:
            raise ValueError(f"{source[name]}: size {name} is {dims[name]}, but " +
                             " + ".join(f"{p} = {dims[p]}" for p in parts) + f" = {sum(dims[p] for p in parts)}")
    if dims.get("T", 1) < 1:
        raise ValueError("the sequences must have at least one step (T >= 1)")
    return dims
'''

LOSS_DOC = '    """The scalar loss L."""'


def preamble(doc: str, shapes: dict, imports: tuple[str, ...] = ("import numpy as np",)) -> list[str]:
    """The module's first lines: the docstring, the imports and ``SHAPES``."""
    return [f'r"""{doc}"""', *imports, "", f"SHAPES = {shapes!r}"]


def arrays_line(args) -> str:
    """The line of ``_prepare`` that turns every argument into a float64 array, keyed by name."""
    return "    arrays = {" + ", ".join(f"{a!r}: np.asarray({a}, dtype=np.float64)" for a in args) + "}"


def unpack(names, source: str) -> str:
    """``    a, b = source['a'], source['b']``."""
    names = list(names)
    return f"    {', '.join(names)} = " + ", ".join(f"{source}[{n!r}]" for n in names)


def place_helpers(text: str) -> str:
    """``text`` with ``HELPER_MARK`` replaced by the helpers the text calls (each opens with two blank
    lines); with none to place, a mark on a line of its own goes with its line."""
    helpers = "".join(h for marker, h in HELPERS.items() if marker in text).rstrip("\n")
    if not helpers:
        text = text.replace(f"\n{HELPER_MARK}\n", "\n", 1)
    return text.replace(HELPER_MARK, helpers, 1)
