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

def _sigmoid(x, out=None):
    """The logistic function, computed stably as (1 + tanh(x/2)) / 2 (into ``out`` when given)."""
    if out is None:
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    np.multiply(x, 0.5, out)
    np.tanh(out, out)
    out += 1.0
    out *= 0.5
    return out
''',
    "_outer(": '''


def _outer(a, b):
    """a b^T of each example (leading axes are examples): out[..., i, j] = a[..., i] b[..., j]."""
    return a[..., :, None] * b[..., None, :]
''',
    "_outer_sum(": '''


def _outer_sum(a, b):
    """sum over every leading axis (steps and examples) of a b^T, as one matrix product."""
    if a.ndim == 2:  # steps only: no reshape to pay for
        return a.T @ b
    rows = a.size // a.shape[-1] if a.shape[-1] else int(np.prod(a.shape[:-1]))
    return a.reshape(rows, a.shape[-1]).T @ b.reshape(rows, b.shape[-1])
''',
    "_mm(": '''


def _mm(a, m):
    """a @ m for a stack of rows (steps, examples): one matrix product of all the rows at once."""
    if a.ndim == 2:
        return a @ m
    count = a.size // a.shape[-1] if a.shape[-1] else int(np.prod(a.shape[:-1]))
    return (a.reshape(count, a.shape[-1]) @ m).reshape(*a.shape[:-1], m.shape[-1])
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
    if type(value) is np.ndarray and value.dtype == np.float64:
        return value
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
    dims = _agreed(arrays)
    if dims is not None:  # every argument agrees (the usual call): no votes to count
        return _checked(dims, {dim: next(n for n in SHAPES if dim in SHAPES[n]) for dim in dims}, arrays)
    votes = _votes(arrays)
    dims = {dim: _majority(values) for dim, values in votes.items()}
    for name, names in SHAPES.items():
        for dim, actual in zip(names, arrays[name].shape):
            if dims[dim] is not None and actual != dims[dim]:
                raise ValueError(_outvoted(name, dim, dims[dim], votes[dim][dims[dim]], arrays))
    for dim, value in dims.items():
        if value is None:
            raise ValueError(_tie(dim, votes[dim], arrays))
    return _checked(dims, {dim: votes[dim][value][0] for dim, value in dims.items()}, arrays)


def _agreed(arrays):
    \"\"\"The sizes when every argument has as many axes as SHAPES names and they agree on every size, else None.\"\"\"
    dims = {}
    for name, names in SHAPES.items():
        shape = arrays[name].shape
        if len(shape) != len(names):
            return None
        for dim, actual in zip(names, shape):
            if dims.setdefault(dim, actual) != actual:
                return None
    return dims


def _checked(dims, source, arrays):
    \"\"\"``dims`` after checking that a compound size is the sum of its parts and that there is a step
    (``source``: the argument each size was read from, named by the messages).\"\"\"
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

BATCH_AXIS = '''


def _batched_names(arrays):
    """The arguments of BATCH given with a leading batch axis B, after checking that the data ("steps",
    "data") are batched all or none and give one B (a "shared" argument has a batch axis only with them)."""
    batched = [name for name in BATCH if arrays[name].ndim == len(SHAPES[name]) + 1]
    data = [name for name in BATCH if BATCH[name] != "shared"]
    given = [name for name in data if name in batched]
    if given and len(given) < len(data):
        odd = next(name for name in data if name not in batched)
        raise ValueError(f"{odd}: expected a batch of shape (B, {_expected(odd)[1:]} as {given[0]} of shape "
                         f"{arrays[given[0]].shape}, got shape {arrays[odd].shape}")
    if not given:  # one example: an extra axis is a wrong shape, which _dims reports
        return []
    if arrays[given[0]].shape[0] == 0:
        raise ValueError(f"{given[0]}: the batch is empty (B = 0), got shape {arrays[given[0]].shape}")
    for name in batched:
        if arrays[name].shape[0] != arrays[given[0]].shape[0]:
            raise ValueError(f"{name}: expected a batch of B = {arrays[given[0]].shape[0]} examples "
                             f"(as in {given[0]} of shape {arrays[given[0]].shape}), got shape {arrays[name].shape}")
    return batched


def _examples(arrays, one_as_batch):
    """The arrays as the generated code reads them, and the sizes of one example (``_dims``) with ``_B``,
    ``_batch`` (the batch axis of the code's arrays: ``(B,)``, or ``()`` for one example) and ``_batched``
    (the arguments given with a batch axis). The code keeps the examples on the axis after a sequence's
    steps ((T, B, ...)) and first for other data ((B, ...)); one example is a batch of B = 1 when
    ``one_as_batch``, else it keeps its own shape; a "shared" argument given without a batch axis stays
    as it is (one for the whole batch)."""
    batched = _batched_names(arrays)
    try:
        sizes = _dims({name: a[0] if name in batched else a for name, a in arrays.items()})
    except ValueError as error:
        raise ValueError(f"{error} (the shape of one example of the batch)" if batched else str(error)) from None
    sizes["_B"] = arrays[batched[0]].shape[0] if batched else 1
    sizes["_batch"] = (sizes["_B"],) if batched or one_as_batch else ()
    sizes["_batched"] = batched
    out = dict(arrays)
    for name, kind in BATCH.items():
        if name in batched or kind != "shared" and one_as_batch:
            a = arrays[name] if name in batched else arrays[name][None]
            out[name] = np.ascontiguousarray(a.swapaxes(0, 1)) if kind == "steps" else a
    return out, sizes


def _per_example(value, sizes, steps):
    """A value of the code's layout in the caller's: steps after the batch axis ((B, T, ...)) when
    ``steps``; without the batch axis for one example."""
    if sizes["_batched"]:
        return value.swapaxes(0, 1) if steps else value
    return value[0] if sizes["_batch"] else value


def _gradient(name, value, sizes):
    """dL/d(name) in the argument's own layout: a sequence's steps back after the batch axis, and every
    axis the argument was given without summed away (a parameter's, or a shared initial state's, sum
    over the examples; one example's batch of one)."""
    value = np.asarray(value, dtype=np.float64)
    if name not in BATCH and value.ndim == len(SHAPES[name]):
        return value
    value = value.swapaxes(0, 1) if BATCH.get(name) == "steps" and sizes["_batched"] else value
    own = len(SHAPES[name]) + (name in sizes["_batched"])
    while value.ndim > own:
        value = value[0] if value.shape[0] == 1 else value.sum(axis=0)
    return value
'''

BATCH_DOC = ("# SHAPES: the axes of each argument for one example. The arguments in BATCH take an optional\n"
             "# leading batch axis B (a minibatch): \"steps\" sequences (B, T, ...) and \"data\" (B, ...), given\n"
             "# batched all or none; a \"shared\" initial state either (B, ...) or one for every example. The loss\n"
             "# is the sum over the batch; a parameter's gradient the sum of the examples' gradients.")


LOSS_DOC = '    """The scalar loss L."""'


def preamble(doc: str, shapes: dict, batch: dict, imports: tuple[str, ...] = ("import numpy as np",)) -> list[str]:
    """The module's first lines: the docstring, the imports, ``SHAPES`` and ``BATCH`` (see ``BATCH_DOC``)."""
    return [f'r"""{doc}"""', *imports, "", BATCH_DOC, f"SHAPES = {shapes!r}", f"BATCH = {batch!r}"]


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
