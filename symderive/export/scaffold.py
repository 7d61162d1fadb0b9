"""What every exported module has, whatever the level that generated it.

An exported module reads, top to bottom: its docstring, ``import numpy as np``, ``SHAPES`` (argument
name -> the size names of its axes), the helpers its code calls (``_sigmoid``), ``ARGUMENTS``:
``_real`` (an argument as a float64 array; complex numbers, strings and objects refused, naming the
argument) and ``_dims`` (the sizes read off the arrays, each the value most arguments give it, with an
error that names the argument whose shape disagrees, the expected and the actual shape), a ``_prepare``
that converts the arguments and checks them, then the level's own functions and the public ``forward``,
``loss`` and ``grad``.
"""
from __future__ import annotations

HELPER_MARK = "# <helpers>"  # where the helpers the module calls go (see ``place_helpers``)
HELPERS = {
    "_sigmoid(": '''

def _sigmoid(x):
    """The logistic function, computed stably as (1 + tanh(x/2)) / 2."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))
''',
    "_softmax(": '''


def _softmax(z):
    """Softmax over each vector's entries (the last axis), exp(z - max z) / sum exp(z - max z): no overflow."""
    e = np.exp(z - np.max(z, axis=-1, keepdims=True, initial=-np.inf))
    return e / np.sum(e, axis=-1, keepdims=True)
''',
    "_softmax_rows(": '''


def _softmax_rows(S, causal):
    """Softmax of each row, exp(S - max) / sum exp(S - max); causal: row i over the columns j <= i only."""
    if causal:
        S = np.where(np.tri(S.shape[-2], S.shape[-1], dtype=bool), S, -np.inf)
    e = S - np.max(S, axis=-1, keepdims=True, initial=-np.inf)  # initial: no maximum of an empty row
    np.exp(e, out=e)  # in place: one array of the scores' size instead of three
    e /= np.sum(e, axis=-1, keepdims=True)
    return e
''',
    "_normalize_rows(": '''


def _normalize_rows(X, eps):
    """Each row minus its mean, over sqrt(its biased variance + eps) (rows of no entries stay empty)."""
    width = max(X.shape[-1], 1)
    centred = X - np.sum(X, axis=-1, keepdims=True) / width
    return centred / np.sqrt(np.sum(centred * centred, axis=-1, keepdims=True) / width + eps)
''',
    "_row_mean(": '''


def _row_mean(A):
    """The mean of each row, kept as a column (0 for rows of no entries)."""
    return np.sum(A, axis=-1, keepdims=True) / max(A.shape[-1], 1)
''',
    "_inv_std(": '''


def _inv_std(X, eps):
    """1 / sqrt(the biased variance of each row + eps), kept as a column."""
    width = max(X.shape[-1], 1)
    centred = X - np.sum(X, axis=-1, keepdims=True) / width
    return 1.0 / np.sqrt(np.sum(centred * centred, axis=-1, keepdims=True) / width + eps)
''',
    "_logsoftmax(": '''


def _logsoftmax(z):
    """Log-softmax over each vector's entries, (z - max z) - log sum exp(z - max z) (log-sum-exp, stably)."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
''',
}

ARGUMENTS = '''

def _real(name, value):
    \"\"\"The argument as a float64 array. Booleans and integers convert; complex numbers, strings and other
    objects are a TypeError, a ragged nesting a ValueError, each naming the argument.\"\"\"
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: cannot be read as an array of numbers ({error})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers (bool, int or float), got an array of dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def _expected(name):
    \"\"\"``(n, d)``: the size names of the argument's axes.\"\"\"
    return "(" + ", ".join(SHAPES[name]) + ")"


def _own_sizes(name, shape):
    \"\"\"The sizes one argument gives on its own: as many axes as size names, equal where a name repeats.\"\"\"
    names = SHAPES[name]
    if len(shape) != len(names):
        raise ValueError(f"{name}: expected a {len(names)}-D array of shape {_expected(name)}, got shape {shape}")
    own = {}
    for dim, actual in zip(names, shape):
        if own.setdefault(dim, actual) != actual:
            raise ValueError(f"{name}: expected shape {_expected(name)} (every {dim} the same), got shape {shape}")
    return own


def _votes(arrays):
    \"\"\"votes[dim][value]: the arguments that give the size ``dim`` that value, in the order of SHAPES.\"\"\"
    votes = {}
    for name in SHAPES:
        for dim, actual in _own_sizes(name, arrays[name].shape).items():
            votes.setdefault(dim, {}).setdefault(actual, []).append(name)
    return votes


def _majority(values):
    \"\"\"The value most arguments give a size, or None when two values are given by as many arguments.\"\"\"
    counts = sorted((len(names) for names in values.values()), reverse=True)
    return None if len(counts) > 1 and counts[0] == counts[1] else max(values, key=lambda v: len(values[v]))


def _outvoted(name, dim, value, voters, arrays):
    \"\"\"The message for ``name``, outvoted on ``dim``: the ``voters`` give it ``value``.\"\"\"
    others = [n for n in voters if n != name]
    more = len(others) - 1
    shown = f"{others[0]}, of shape {arrays[others[0]].shape}" + (f", and {more} more" if more else "")
    return (f"{name}: expected shape {_expected(name)} with {dim} = {value} (as in {shown}), "
            f"got shape {arrays[name].shape}")


def _tie(dim, values, arrays):
    \"\"\"The message for a size two values of which are given by as many arguments: every one is named.\"\"\"
    names = [n for voters in values.values() for n in voters]
    given = ", ".join(f"{n} of shape {arrays[n].shape} for {_expected(n)} gives {dim} = {value}"
                      for value, voters in values.items() for n in voters)
    return f"{' or '.join(names)} has the wrong shape: they disagree on {dim} ({given})"


def _dims(arrays):
    \"\"\"Sizes read off the arrays. A size takes the value most arguments give it, so a ValueError names
    the argument whose shape disagrees, the expected and the actual shape (a tie names every argument in it).\"\"\"
    votes = _votes(arrays)
    dims = {dim: _majority(values) for dim, values in votes.items()}
    for name, names in SHAPES.items():
        for dim, actual in zip(names, arrays[name].shape):
            if dims[dim] is not None and actual != dims[dim]:
                raise ValueError(_outvoted(name, dim, dims[dim], votes[dim][dims[dim]], arrays))
    for dim, value in dims.items():
        if value is None:
            raise ValueError(_tie(dim, votes[dim], arrays))
    source = {dim: votes[dim][value][0] for dim, value in dims.items()}
    for name in dims:  # a compound size (a concatenation) must be the sum of its parts
        parts = name.split(" + ")
        if len(parts) > 1 and all(p in dims for p in parts) and sum(dims[p] for p in parts) != dims[name]:
            raise ValueError(f"{source[name]}: size {name} is {dims[name]}, but " +
                             " + ".join(f"{p} = {dims[p]}" for p in parts) + f" = {sum(dims[p] for p in parts)}")
    if dims.get("T", 1) < 1:
        raise ValueError(f"{source['T']}: the sequences must have at least one step (T >= 1), "
                         f"got shape {arrays[source['T']].shape}")
    return dims
'''

LOSS_DOC = '    """The scalar loss L."""'


def preamble(doc: str, shapes: dict, imports: tuple[str, ...] = ("import numpy as np",)) -> list[str]:
    """The module's first lines: the docstring, the imports and ``SHAPES``."""
    return [f'r"""{doc}"""', *imports, "", f"SHAPES = {shapes!r}"]


def arrays_line(args) -> str:
    """The line of ``_prepare`` that turns every argument into a float64 array (``_real``), keyed by name."""
    return "    arrays = {" + ", ".join(f"{a!r}: _real({a!r}, {a})" for a in args) + "}"


def unpack(names, source: str) -> str:
    """``    a, b = source['a'], source['b']`` (empty for no names: the caller leaves the line out)."""
    names = list(names)
    if not names:
        return ""
    return f"    {', '.join(names)} = " + ", ".join(f"{source}[{n!r}]" for n in names)


def place_helpers(text: str) -> str:
    """``text`` with ``HELPER_MARK`` replaced by the helpers the text calls (each opens with two blank
    lines); with none to place, a mark on a line of its own goes with its line."""
    helpers = "".join(h for marker, h in HELPERS.items() if marker in text).rstrip("\n")
    if not helpers:
        text = text.replace(f"\n{HELPER_MARK}\n", "\n", 1)
    return text.replace(HELPER_MARK, helpers, 1)


def add_symbols(source: str, symbols: dict) -> str:
    """``source`` with ``SYMBOLS`` (argument name -> its LaTeX, as the model writes it) on the line after
    ``SHAPES``, which has the same names in the same order."""
    lines = source.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("SHAPES = "))
    return "\n".join([*lines[:at + 1], f"SYMBOLS = {symbols!r}", *lines[at + 1:]])
