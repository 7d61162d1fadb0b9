"""Hypothesis over every built-in's exported ``grad``: random sizes (0 included), shapes, dtypes, values and
options give a gradient of each argument's shape, or a TypeError/ValueError whose message opens with the name
of the argument (or keyword) at fault; never another exception."""
import functools
import inspect
import re
import warnings

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from symderive import available, derivation

REAL = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool"]
NOT_REAL = ["complex128", "object", "str", "datetime64[s]"]


@functools.cache
def module(name):
    return derivation(name).load_module()


@functools.cache
def sized(name) -> tuple[list, list]:
    """(the size names read off the arrays, the derived sizes: output sizes computed from the others)."""
    engine = derivation(name).engine
    derived = list(getattr(engine, "derived", ()))
    held = {n for names in module(name).SHAPES.values() for n in names}
    return sorted(held - {str(ds.symbol) for ds in derived}), derived


def array(data, shape, dtype):
    """Random values of ``shape`` as ``dtype``: standard normal times a scale, some entries infinite or NaN."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    values = np.array(rng.standard_normal(shape) * data.draw(st.sampled_from([1.0, 1e-300, 1e300])))
    if data.draw(st.booleans()):
        values[rng.random(shape) < 0.1] = data.draw(st.sampled_from([np.inf, -np.inf, np.nan]))
    if dtype == "str":
        return values.astype(str)
    if dtype.startswith("datetime"):
        return np.zeros(shape, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        return values.astype(dtype) if dtype != "object" else values.astype(object)


def option_value(data, option, sizes):
    """A keyword option: small values from its minimum on (set in ``sizes``), now and then a bad one."""
    if data.draw(st.integers(0, 9)) == 0:
        return data.draw(st.sampled_from([-1, 1.5, "2", (1, 2, 3), None]))
    values = [data.draw(st.integers(option.minimum, option.minimum + 2)) for _ in option.symbols]
    sizes.update({str(s): v for s, v in zip(option.symbols, values)})
    return tuple(values) if len(values) > 1 else values[0]


def keywords(data, name, sizes) -> dict:
    engine, out = derivation(name).engine, {}
    for option in getattr(engine, "options", ()):
        out[option.keyword] = option_value(data, option, sizes)
    if getattr(engine, "variant_keyword", ""):
        out[engine.variant_keyword] = data.draw(st.sampled_from([t for t, _ in engine.variants] + ["min"]))
    if derivation(name).recurrent:
        out["truncate"] = data.draw(st.one_of(st.none(), st.integers(-1, 4)))
        out["truncate_mode"] = data.draw(st.sampled_from(["blocks", "window", "both"]))
    return out


def arguments(data, name) -> dict:
    """Every argument of the shape the sizes give (derived sizes computed) and of a real dtype, except at most one
    spoiled argument: of a random shape, or of a dtype that is not real numbers, or both."""
    names, derived = sized(name)
    sizes = {n: data.draw(st.integers(0, 5)) for n in names}
    options = keywords(data, name, sizes)
    for ds in derived:
        sizes[str(ds.symbol)] = max(0, int(ds.expr.subs({s: sizes.get(str(s), 1) for s in ds.expr.free_symbols})))
    shapes = module(name).SHAPES
    spoiled = data.draw(st.one_of(st.none(), st.sampled_from(list(shapes))))
    out = {}
    for arg, dims in shapes.items():
        shape, dtypes = tuple(sizes[d] for d in dims), REAL
        if arg == spoiled:
            if data.draw(st.booleans()):
                shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=4)))
            dtypes = data.draw(st.sampled_from([REAL, NOT_REAL]))
        out[arg] = array(data, shape, data.draw(st.sampled_from(dtypes)))
    for target in getattr(derivation(name).program, "constants", ()):  # one-hot, a class index, or as drawn
        given = out[target.name]
        one_hot = np.eye(given.shape[0])[0] if given.ndim and given.shape[0] else given
        out[target.name] = data.draw(st.sampled_from([one_hot, 1, -1, 1.5, True, given]))
    return out | options


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(available())), st.data())
def test_grad_returns_gradients_or_names_the_argument(name, data):
    call = arguments(data, name)
    grad = module(name).grad
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning is no answer (before: complex input lost its imaginary part)
            result = grad(**call)
    except (TypeError, ValueError) as error:
        names = "|".join(map(re.escape, inspect.signature(grad).parameters))
        assert re.match(rf"({names})\b", str(error)), f"{type(error).__name__}: {error}"
        event(f"{name}: {type(error).__name__}")
        return
    event(f"{name}: gradients")
    for arg, value in result.items():
        assert value.dtype == np.float64 and value.shape == np.shape(call[arg]), arg
