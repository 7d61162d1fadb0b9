"""The JAX references of the benchmarks (``benchmarks/jax_recurrent.py``) compute the exports' loss and gradients:
every argument's gradient equals the exported ``grad`` to 1e-9 (float64), for one sequence and for a minibatch
with the initial state shared or one per example, so that the benchmark compares the same work."""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax", reason="jax not installed (optional: pip install -e '.[bench]'); the JAX references skip")

from symderive import derivation  # noqa: E402
from symderive.verify.matrix_checks import random_arguments  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import jax_recurrent  # noqa: E402  (the benchmarks folder is not a package)

SIZES = {"n": 5, "H": 5, "d": 3, "q": 2, "T": 4}
B = 3


def arguments(name: str, batch: bool, shared_state: bool, seed: int = 0) -> dict:
    """Random arguments; with ``batch`` x and y get a leading axis B, the initial states too unless shared."""
    der = derivation(name)
    one = random_arguments(der.program, {s: SIZES[str(s)] for s in (*der.program.dims(), *der.sizes.small)}, seed=seed)
    if not batch:
        return one
    rng = np.random.default_rng(seed + 1)
    batched = {"x", "y"} if shared_state else {"x", "y", "h0", "c0"}
    return {k: rng.standard_normal((B, *v.shape)) if k in batched else v for k, v in one.items()}


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("batch, shared_state", [(False, True), (True, True), (True, False)])
def test_jax_reference_equals_export(name, batch, shared_state):
    a = arguments(name, batch, shared_state)
    module = derivation(name).load_module()
    fn, device, _ = jax_recurrent.compiled(name, a)
    value, grads = fn(device)
    expected = module.grad(**a)
    assert set(grads) == set(expected) == set(a)
    assert float(value) == pytest.approx(module.loss(**a), rel=1e-12)
    for k, g in expected.items():
        assert np.asarray(grads[k]).shape == g.shape == a[k].shape, k
        np.testing.assert_allclose(np.asarray(grads[k]), g, rtol=0, atol=1e-9, err_msg=f"{name} dL/d{k}")


def test_a_wrong_reference_is_caught():
    """The comparison fails for a reference with the GRU's b_hn moved out of r ⊙ (W_hn h + b_hn)."""
    a = arguments("gru", batch=False, shared_state=True)
    moved = {**a, "b_in": a["b_in"] + a["b_hn"], "b_hn": np.zeros_like(a["b_hn"])}
    grads = jax_recurrent.grad("gru", moved)
    assert not np.allclose(grads["W_hn"], derivation("gru").load_module().grad(**a)["W_hn"], atol=1e-9)
