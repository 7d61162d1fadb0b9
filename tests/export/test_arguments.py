"""Every built-in's exported module refuses what is not real numbers and names the argument whose shape is wrong.

Issue 12: complex input lost its imaginary part with only a warning, strings were read as numbers, and a
wrong-shaped first argument was blamed on the next one (the first array read fixed every size).
"""
import re
import warnings

import numpy as np
import pytest

from symderive import available, derivation
from tests.export.cases import first_case, module


def call_grad(name, **changed):
    arrays, options = first_case(name)
    return module(name).grad(**{**arrays, **changed}, **options)


def every_argument():
    return [(name, arg) for name in available() for arg in module(name).SHAPES]


@pytest.mark.parametrize("name,arg", every_argument())
def test_complex_input_is_a_type_error_naming_the_argument(name, arg):
    value = first_case(name)[0][arg] * (1 + 1j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: the imaginary part is never dropped
        with pytest.raises(TypeError, match=f"^{arg}: expected real numbers .* got an array of dtype complex128$"):
            call_grad(name, **{arg: value})


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("make,error,dtype", [
    (lambda a: a.astype(object), TypeError, "object"),
    (lambda a: a.astype(str), TypeError, "<U"),  # "0.5" is not read as the number 0.5
    (lambda a: np.full(a.shape, "abc"), TypeError, "<U3"),
    (lambda a: np.zeros(a.shape, dtype="datetime64[D]"), TypeError, "datetime64"),
    (lambda a: [None] * len(a), TypeError, "object"),
])
def test_non_real_input_is_refused_naming_the_argument(name, make, error, dtype):
    for arg, value in first_case(name)[0].items():
        with pytest.raises(error, match=f"^{arg}: expected real numbers .* dtype {re.escape(dtype)}"):
            call_grad(name, **{arg: make(value)})


@pytest.mark.parametrize("name", available())
def test_a_ragged_nesting_is_a_value_error_naming_the_argument(name):
    arg = next(iter(module(name).SHAPES))
    with pytest.raises(ValueError, match=f"^{arg}: cannot be read as an array of numbers"):
        call_grad(name, **{arg: [[1.0], [1.0, 2.0]]})


@pytest.mark.parametrize("name", available())
def test_booleans_and_integers_are_read_as_float64(name):
    arrays, _ = first_case(name)
    as_int = {k: np.rint(4 * v).astype(np.int64) for k, v in arrays.items()}
    as_bool = {k: v > 0 for k, v in arrays.items()}
    for target in getattr(derivation(name).program, "constants", ()):  # a one-hot target stays one-hot
        as_int[target.name], as_bool[target.name] = arrays[target.name].astype(np.int64), arrays[target.name] > 0
    for converted in (as_int, as_bool):
        want = call_grad(name, **{k: v.astype(np.float64) for k, v in converted.items()})
        got = call_grad(name, **converted)
        assert all(got[k].dtype == np.float64 and np.array_equal(got[k], want[k], equal_nan=True) for k in want)
        lists = call_grad(name, **{k: v.tolist() for k, v in converted.items()})
        assert all(np.array_equal(lists[k], want[k], equal_nan=True) for k in want)


def resized(array, axis, delta):
    """``array`` with ``delta`` entries more (or fewer) along ``axis``; new entries are 0."""
    shape = list(array.shape)
    shape[axis] += delta
    out = np.zeros(shape)
    keep = tuple(slice(0, min(a, b)) for a, b in zip(array.shape, shape))
    out[keep] = array[keep]
    return out


def blamed_alone(name, arg, dim) -> bool:
    """Can the shapes tell that ``arg`` is the wrong one when its size ``dim`` changes? Yes when the size repeats
    in ``arg`` (W_hh: (n, n)), when at least two other arguments give it (one against two), or when the size is
    an output size ``arg`` alone holds (computed from the other arguments and the options)."""
    shapes = module(name).SHAPES
    others = [a for a, names in shapes.items() if a != arg and dim in names]
    derived = {str(ds.symbol) for ds in getattr(derivation(name).engine, "derived", ())}
    return shapes[arg].count(dim) > 1 or len(others) >= 2 or (not others and dim in derived)


def wrong_shapes():
    return [(name, arg, axis) for name, arg in every_argument() for axis in range(len(module(name).SHAPES[arg]))]


@pytest.mark.parametrize("name,arg,axis", wrong_shapes())
def test_a_wrong_shape_names_its_argument(name, arg, axis):
    names = module(name).SHAPES[arg]
    expected = "(" + ", ".join(names) + ")"
    raised = 0
    for delta in (-1, 1):
        value = resized(first_case(name)[0][arg], axis, delta)
        try:
            call_grad(name, **{arg: value})
        except ValueError as error:
            raised += 1
            message = str(error)
        else:  # an output size rounded down can stay the same (pooling's floor(H_c / K_p))
            continue
        assert re.search(rf"\b{arg}\b", message) and str(value.shape) in message, message
        if blamed_alone(name, arg, names[axis]):
            assert message.startswith(f"{arg}: expected shape {expected}"), message
            assert message.endswith(f"got shape {value.shape}"), message
    assert raised, "no size change of this axis was noticed"


def test_the_first_argument_is_not_blamed_on_the_next():
    # rnn: W_hh (5, 5) against n = 16 everywhere else; before, W_hh fixed n = 5 and W_xh was blamed.
    with pytest.raises(ValueError) as error:
        call_grad("rnn", W_hh=np.zeros((5, 5)))
    assert str(error.value) == ("W_hh: expected shape (n, n) with n = 16 (as in W_xh, of shape (16, 8), and 3 more), "
                                "got shape (5, 5)")
    # conv2d: X holds C with W alone; an even split names both, each with its expected and actual shape.
    with pytest.raises(ValueError) as error:
        call_grad("conv2d", X=np.zeros((2, 16, 16)))
    assert str(error.value) == ("X or W has the wrong shape: they disagree on C (X of shape (2, 16, 16) for (C, H_in, "
                                "W_in) gives C = 2, W of shape (4, 3, 3, 3) for (O, C, K_h, K_w) gives C = 3)")
    # W_hh (4, 5): a size that repeats in one argument must repeat its value.
    with pytest.raises(ValueError, match=r"^W_hh: expected shape \(n, n\) \(every n the same\), got shape \(16, 5\)$"):
        call_grad("rnn", W_hh=np.zeros((16, 5)))


def test_an_empty_sequence_names_the_sequence():
    message = r"^x: the sequences must have at least one step \(T >= 1\), got shape \(0, 8\)$"
    with pytest.raises(ValueError, match=message):
        call_grad("rnn", x=np.zeros((0, 8)), y=np.zeros((0, 4)))
