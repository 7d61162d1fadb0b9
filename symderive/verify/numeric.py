"""Numeric comparison of gradients: central differences, errors, and random-direction checks."""
from __future__ import annotations

import math

import numpy as np

from symderive.verify.report import ATOL, RTOL


def central_differences(f, arrays: dict, name: str, eps: float = 1e-6) -> np.ndarray:
    """dL/d(arrays[name]) by central differences, entry by entry (a scalar argument is a 0-d array)."""
    base = np.array(arrays[name], dtype=float)
    out = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        out[idx] = (f({**arrays, name: plus}) - f({**arrays, name: minus})) / (2 * eps)
    return out


#: Below this norm a gradient is zero up to rounding: central differences of a zero gradient give about
#: 1e-16 |L| / 1e-6, so the two sides of a zero gradient differ by ~1e-10 and a relative error means nothing.
ZERO = 1e-8


def compare(got, want) -> tuple[float, float, bool]:
    """(norm-relative error, max elementwise error, allclose at torch gradcheck's tolerances)."""
    got, want = np.asarray(got, dtype=float).reshape(np.shape(want)), np.asarray(want, dtype=float)
    diff = got - want
    rel = float(np.linalg.norm(diff) / max(np.linalg.norm(want), 1e-300)) if diff.size else 0.0
    if max(np.linalg.norm(want), np.linalg.norm(got)) < ZERO:
        rel = 0.0  # zero on both sides up to rounding (a key bias's gradient): no relative error to speak of
    return rel, float(np.max(np.abs(diff), initial=0.0)), bool(np.allclose(got, want, atol=ATOL, rtol=RTOL))


def directional_check(loss, grad: dict, arrays: dict, seed: int, eps: float = 1e-6) -> tuple[float, float, bool]:
    """<grad, v> against (L(x + eps v) - L(x - eps v)) / (2 eps) for a random unit direction v.

    The error is relative to ||grad|| (the largest <grad, v> can be), as for a whole gradient: a
    direction almost orthogonal to the gradient must not inflate it."""
    rng = np.random.default_rng(seed)
    v = {k: rng.standard_normal(np.shape(a)) for k, a in arrays.items()}
    norm = math.sqrt(sum(float(np.sum(x * x)) for x in v.values()))
    v = {k: x / norm for k, x in v.items()}
    plus = loss({k: a + eps * v[k] for k, a in arrays.items()})
    minus = loss({k: a - eps * v[k] for k, a in arrays.items()})
    want = (plus - minus) / (2 * eps)
    g = {k: np.asarray(grad[k]).reshape(np.shape(v[k])) for k in v}
    got = sum(float(np.sum(g[k] * v[k])) for k in v)
    scale = math.sqrt(sum(float(np.sum(x * x)) for x in g.values()))
    error = abs(got - want)
    return error / max(scale, 1e-300), error, bool(np.isclose(got, want, atol=ATOL, rtol=RTOL))


def worst(checks) -> tuple[float, float, bool]:
    """The largest errors of several ``(rel, max, close)`` checks, and whether all were close."""
    checks = list(checks)
    return max(c[0] for c in checks), max(c[1] for c in checks), all(c[2] for c in checks)
