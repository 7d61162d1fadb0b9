"""The matrix-level parts of the verification: arguments at a size, the derived formulas by the
reference interpreter, truncated BPTT (checked against the loss with the states detached as
truncation prescribes), random directions at a large size, and one-step Jacobians."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symderive.matrix import evaluate as ev
from symderive.matrix.derive import state_jacobian
from symderive.matrix.evaluate import FULL, NUMPY, Truncation
from symderive.model.program import Program, arguments, key, numeric_shape, size_names
from symderive.ops.nodes import T
from symderive.ops.rows import options_of
from symderive.verify.numeric import compare, directional_check, worst
from symderive.verify.report import Row
from symderive.verify.symbolic import symbolic_check


def random_arguments(program: Program, sizes: dict, seed: int = 0) -> dict:
    """Standard normal data; weight matrices scaled by 1/sqrt(fan-in) as at initialisation (a
    recurrent weight of spectral radius about 1: not chaotic, so finite differences are meaningful)."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in arguments(program):
        name, names, shape = key(v), size_names(v), numeric_shape(v, sizes)
        scale = 1 / math.sqrt(shape[1]) if len(shape) == 2 and names[0] != "T" else 0.5
        out[name] = np.asarray(scale * rng.standard_normal(shape))  # a scalar stays a 0-D array
    return out


def evaluator_loss(program: Program, truncation: Truncation, at: dict):
    """The reference loss as a function of the arguments, with detached states frozen at ``at``."""
    sizes = ev.sizes_of(program, at)
    base = ev.bind(program, at, sizes, NUMPY)
    ev.forward(program, base)
    frozen = {k: v for k, v in base.items() if isinstance(k, tuple) and k[0] in program.states}

    def f(arrays):
        env = ev.bind(program, arrays, sizes, NUMPY)
        if truncation is FULL:
            ev.forward(program, env)
            return ev.loss(program, env)
        return ev.detached_loss(program, env, truncation, frozen)

    return f


@dataclass(frozen=True)
class SizeKeyword:
    """A required keyword of the exported functions that sets a size (``heads``): at least ``minimum``."""

    keyword: str
    symbols: tuple
    minimum: int = 1


def size_options(program: Program) -> tuple[SizeKeyword, ...]:
    """The program's keywords that set a size (an option whose value is a size symbol)."""
    return tuple(SizeKeyword(o.keyword, (o.value,)) for o in options_of(program) if isinstance(o.value, sp.Symbol))


def size_keywords(program: Program, sizes: dict) -> dict:
    """The keywords of the exported functions that give a size no array has (``heads``), at ``sizes``."""
    return {k.keyword: sizes[k.symbols[0]] for k in size_options(program)}


def reference_gradient(program: Program, bw, arrays: dict, truncation: Truncation = FULL, sizes=None) -> dict:
    """The derived formulas evaluated by the reference interpreter, shaped like the module's output (``sizes``:
    default, read off the arrays)."""
    env = ev.bind(program, arrays, sizes or ev.sizes_of(program, arrays), NUMPY)
    ev.forward(program, env)
    grads = ev.backward(bw, env, truncation)
    return {name: np.asarray(grads[name], dtype=float).reshape(np.shape(arrays[name])) for name in arrays}


def truncation_rows(program: Program, bw, small: dict, module, arrays: dict) -> list[Row]:
    """Truncated BPTT (K=2 symbolic at the ``small`` sizes; K=5 random directions at ``arrays``)."""
    rows = []
    for mode in ("blocks", "window"):
        symbolic = all(symbolic_check(program, bw, small, Truncation(2, mode)).values())
        truncation = Truncation(5, mode)
        grads = module.grad(**arrays, truncate=truncation.k, truncate_mode=mode)
        derived = reference_gradient(program, bw, arrays, truncation)
        same = all(compare(grads[k], derived[k])[2] for k in grads)
        loss = evaluator_loss(program, truncation, arrays)
        rel, mx, close = worst(directional_check(loss, grads, arrays, seed) for seed in range(3))
        rows.append(Row(f"all, truncated ({mode})", symbolic, rel, mx, same and close))
    return rows


def large_rows(program: Program, large: dict, module) -> list[Row]:
    """Three random directions at the ``large`` sizes."""
    arrays, keywords = random_arguments(program, large, seed=1), size_keywords(program, large)
    grads = module.grad(**arrays, **keywords)
    rel, mx, close = worst(directional_check(lambda a: module.loss(**a, **keywords), grads, arrays, seed)
                           for seed in range(3))
    return [Row("all, large size", None, rel, mx, close)]


def jacobian_check(of: str, wrt: str):
    """A check (for ``extra_checks``) of the derived ``∂of_t/∂wrt_{t-1}`` against central differences
    of one step, at the first, middle and last step."""

    def check(d, arrays) -> Row:
        p = d.program
        sizes = ev.sizes_of(p, arrays)
        env = ev.bind(p, arrays, sizes, NUMPY)
        ev.forward(p, env)
        J = state_jacobian(p, of, wrt)
        rel, mx, close = worst(compare(ev.evaluate(J, env, s), step_differences(p, env, of, wrt, s))
                               for s in (1, sizes[T] // 2, sizes[T]))
        return Row(f"d{of}_t/d{wrt}_(t-1)", None, rel, mx, close)

    return check


def step_differences(p: Program, env, of: str, wrt: str, s: int, eps: float = 1e-6) -> np.ndarray:
    """``∂of_s/∂wrt_{s-1}`` by central differences of step s alone."""
    base = env[(wrt, s - 1)]
    columns = []
    for k in range(base.shape[0]):
        out = []
        for sign in (1, -1):
            e = ev.Env(dict(env), env.sizes, NUMPY)
            e[(wrt, s - 1)] = base + sign * eps * np.eye(base.shape[0])[:, [k]]
            ev.forward(p, e, steps=[s])
            out.append(e[(of, s)])
        columns.append((out[0] - out[1]) / (2 * eps))
    return np.hstack(columns)
