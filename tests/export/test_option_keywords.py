"""The keyword options of the token models' exports are checked: ``causal`` is a yes/no, ``eps`` a positive finite
number (``eps <= 0`` gave NaN on a constant row, ``causal="yes"`` was taken as True)."""
import numpy as np
import pytest

from tests.export.cases import first_case, module


@pytest.mark.parametrize("name", ["attention", "mha", "transformer"])
@pytest.mark.parametrize("causal", ["yes", 2, None, 0.5])
def test_causal_must_be_a_yes_or_no(name, causal):
    arrays, options = first_case(name)
    with pytest.raises(ValueError, match=r"^causal must be True or False"):
        module(name).grad(**arrays, **(options | {"causal": causal}))


@pytest.mark.parametrize("name", ["attention", "transformer"])
def test_causal_takes_numpy_bools_and_0_1(name):
    arrays, options = first_case(name)
    m = module(name)
    want = m.grad(**arrays, **(options | {"causal": True}))
    for causal in (np.bool_(True), 1):
        got = m.grad(**arrays, **(options | {"causal": causal}))
        assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("name", ["layernorm", "transformer"])
@pytest.mark.parametrize("eps", [0, -1e-5, float("nan"), float("inf"), "1e-5", True])
def test_eps_must_be_a_positive_finite_number(name, eps):
    arrays, options = first_case(name)
    with pytest.raises(ValueError, match=r"^eps must be a positive"):
        module(name).grad(**arrays, **(options | {"eps": eps}))


def test_a_constant_row_with_a_positive_eps_has_finite_gradients():
    """A constant row has variance 0: the gradient is finite exactly because eps > 0 (1/sqrt(eps) scales it)."""
    arrays, options = first_case("layernorm")
    X = np.ones_like(arrays["X"])
    grads = module("layernorm").grad(**(arrays | {"X": X}), **(options | {"eps": 1e-5}))
    assert all(np.all(np.isfinite(g)) for g in grads.values())
