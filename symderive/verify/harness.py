"""Three independent checks of every derived gradient.

1. *Symbolic at a small size* (``symbolic.py``): the model is instantiated with explicit matrices of
   scalar symbols, the scalar loss is differentiated by the scalar chain rule with ``sympy.diff``
   of each activation, and the difference from the derived formulas must be exactly 0.
2. *Numeric at a realistic size*: the exported module's ``grad`` against central differences of its
   ``loss`` (float64), as a norm-relative error and elementwise (``allclose`` with atol 1e-5,
   rtol 1e-3, the defaults of torch's ``gradcheck``); random-direction checks at a large size.
3. *An external reference*: PyTorch's own modules and autograd, when torch is installed.

Truncated BPTT is checked against the loss with the states detached as truncation prescribes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symderive.matrix import evaluate as ev
from symderive.matrix.evaluate import FULL, NUMPY, Truncation
from symderive.ops.nodes import T
from symderive.model.program import Program, arguments, key, numeric_shape, size_names
from symderive.verify.symbolic import symbolic_check, symbolic_proof

__all__ = ["symbolic_check", "verify_derivation", "Report", "Row"]

ATOL, RTOL, REL_TOL = 1e-5, 1e-3, 1e-7


@dataclass(frozen=True)
class Row:
    """One verified quantity. ``symbolic`` is None where the check does not apply."""

    quantity: str
    symbolic: bool | None
    rel_error: float
    max_error: float
    allclose: bool
    reference: str = "-"

    @property
    def passed(self) -> bool:
        return (self.symbolic is not False and self.allclose and self.rel_error <= REL_TOL
                and not self.reference.startswith("FAIL"))


@dataclass
class Report:
    derivation: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def table(self) -> str:
        head = ("quantity", "symbolic", "rel. error", "max error", "allclose", "reference", "result")
        rows = [head] + [(r.quantity, {None: "n/a", True: "pass", False: "FAIL"}[r.symbolic],
                          f"{r.rel_error:.1e}", f"{r.max_error:.1e}", "yes" if r.allclose else "NO",
                          r.reference, "pass" if r.passed else "FAIL") for r in self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "all checks passed" if self.passed else "SOME CHECKS FAILED"
        return "\n".join([f"verify {self.derivation}", *lines, *self.notes, verdict])


# ---------------------------------------------------------------------------------------------
# 2. Numeric checks of the generated module.


def random_arguments(program: Program, sizes: dict, seed: int = 0) -> dict:
    """Standard normal data; weight matrices scaled by 1/sqrt(fan-in) as at initialisation (a
    recurrent weight of spectral radius about 1: not chaotic, so finite differences are meaningful)."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in arguments(program):
        name, names, shape = key(v), size_names(v), numeric_shape(v, sizes)
        scale = 1 / math.sqrt(shape[1]) if len(shape) == 2 and names[0] != "T" else 0.5
        out[name] = scale * rng.standard_normal(shape)
    return out


def central_differences(f, arrays: dict, name: str, eps: float = 1e-6) -> np.ndarray:
    """dL/d(arrays[name]) by central differences, entry by entry."""
    base = arrays[name]
    out = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        out[idx] = (f({**arrays, name: plus}) - f({**arrays, name: minus})) / (2 * eps)
    return out


def compare(got, want) -> tuple[float, float, bool]:
    """(norm-relative error, max elementwise error, allclose at torch gradcheck's tolerances)."""
    got, want = np.asarray(got, dtype=float).reshape(np.shape(want)), np.asarray(want, dtype=float)
    diff = got - want
    rel = float(np.linalg.norm(diff) / max(np.linalg.norm(want), 1e-300)) if diff.size else 0.0
    if not np.any(want) and not np.any(got):
        rel = 0.0
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


def reference_gradient(program: Program, bw, arrays: dict, truncation: Truncation = FULL) -> dict:
    """The derived formulas evaluated by the reference interpreter, shaped like the module's output."""
    env = ev.bind(program, arrays, ev.sizes_of(program, arrays), NUMPY)
    ev.forward(program, env)
    grads = ev.backward(bw, env, truncation)
    return {name: np.asarray(grads[name], dtype=float).reshape(np.shape(arrays[name])) for name in arrays}


def argument_names(program: Program) -> list[str]:
    return [key(v) for v in arguments(program)]


# ---------------------------------------------------------------------------------------------
# The whole verification of a derivation.


def verify_derivation(d) -> Report:
    """Every gradient of ``d`` checked three ways; truncated BPTT and any extra identities too."""
    program, bw = d.program, d.backward
    report = Report(d.name)
    module = d.load_module()
    symbolic, how = symbolic_proof(program, bw, d.sizes.small)
    arrays = random_arguments(program, d.sizes.numeric)
    grads = module.grad(**arrays)
    derived = reference_gradient(program, bw, arrays)
    torch = torch_gradients(d, arrays)
    loss = lambda a: module.loss(**a)  # noqa: E731
    for name in argument_names(program):
        rel, mx, close = compare(grads[name], central_differences(loss, arrays, name))
        same = compare(grads[name], derived[name])[2]
        report.rows.append(Row(f"dL/d{name}", symbolic[name], rel, mx, close and same, torch_cell(torch, name, grads)))
    report.notes.append(sizes_note(d, how))
    if program.recurrent:
        report.rows += truncation_rows(d, module, arrays)
    report.rows += large_rows(d, module)
    for check in d.extra_checks:
        report.rows.append(check(d, arrays))
    return report


def torch_gradients(d, *args):
    """``d.torch_reference(*args)``, or None without a reference or without torch."""
    if d.torch_reference is None:
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    return d.torch_reference(*args)


def torch_cell(torch_grads, name, grads) -> str:
    if torch_grads is None:
        return "-"
    rel, _, close = compare(grads[name], torch_grads[name])
    return f"torch {'ok' if close else 'FAIL'} {rel:.0e}"


def sizes_text(sizes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def sizes_note(d, how: str) -> str:
    return (f"symbolic: scalar chain rule with sympy.diff at {sizes_text(d.sizes.small)}, decided {how}; "
            f"numeric: central differences at "
            f"{sizes_text(d.sizes.numeric)} (float64); large: random directions at {sizes_text(d.sizes.large)}")


def truncation_rows(d, module, arrays) -> list[Row]:
    """Truncated BPTT (K=2 symbolic at the small size; K=5 random directions at the numeric size)."""
    rows = []
    for mode in ("blocks", "window"):
        symbolic = all(symbolic_check(d.program, d.backward, d.sizes.small, Truncation(2, mode)).values())
        truncation = Truncation(5, mode)
        grads = module.grad(**arrays, truncate=truncation.k, truncate_mode=mode)
        derived = reference_gradient(d.program, d.backward, arrays, truncation)
        same = all(compare(grads[k], derived[k])[2] for k in grads)
        loss = evaluator_loss(d.program, truncation, arrays)
        checks = [directional_check(loss, grads, arrays, seed) for seed in range(3)]
        rel, mx = max(c[0] for c in checks), max(c[1] for c in checks)
        rows.append(Row(f"all, truncated ({mode})", symbolic, rel, mx, same and all(c[2] for c in checks)))
    return rows


def large_rows(d, module) -> list[Row]:
    arrays = random_arguments(d.program, d.sizes.large, seed=1)
    grads = module.grad(**arrays)
    checks = [directional_check(lambda a: module.loss(**a), grads, arrays, seed) for seed in range(3)]
    return [Row("all, large size", None, max(c[0] for c in checks), max(c[1] for c in checks),
                all(c[2] for c in checks))]


def jacobian_check(of: str, wrt: str):
    """A check (for ``extra_checks``) of the derived ``∂of_t/∂wrt_{t-1}`` against central differences
    of one step, at the first, middle and last step."""
    from symderive.matrix.derive import state_jacobian

    def check(d, arrays) -> Row:
        p = d.program
        sizes = ev.sizes_of(p, arrays)
        env = ev.bind(p, arrays, sizes, NUMPY)
        ev.forward(p, env)
        J = state_jacobian(p, of, wrt)
        errors = [compare(ev.evaluate(J, env, s), step_differences(p, env, of, wrt, s)) for s in (1, sizes[T] // 2, sizes[T])]
        return Row(f"d{of}_t/d{wrt}_(t-1)", None, max(e[0] for e in errors), max(e[1] for e in errors),
                   all(e[2] for e in errors))

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


# ---------------------------------------------------------------------------------------------
# Index-level derivations (convolution, pooling, CNN).


def case_sizes(d, case: dict) -> dict:
    """The case's sizes and options with the derived sizes (output sizes) added."""
    sizes = dict(case)
    for ds in d.derived:
        sizes[ds.symbol] = int(ds.expr.subs(sizes))
    return sizes


def case_options(d, case: dict, tag: str) -> dict:
    out = {o.keyword: tuple(case[s] for s in o.symbols) if len(o.symbols) > 1 else case[o.symbols[0]]
           for o in d.options}
    if len(d.variants) > 1:
        out[d.variant_keyword] = tag
    return out


def case_label(d, case: dict) -> str:
    options = case_options(d, case, "")
    return ", ".join(f"{o.keyword}={options[o.keyword]}" for o in d.options)


def index_arguments(program, sizes: dict, seed: int, exact: bool = False, positive: bool = False) -> dict:
    """Standard normal arrays (or distinct small rationals with ``exact``, all positive with
    ``positive``); a target (a constant of the program) is one-hot."""
    from symderive.index.evaluate import Env

    rng = np.random.default_rng(seed)
    env = Env({}, sizes)
    out = {}
    for t in program.arguments:
        shape = env.shape(t)
        if t in program.constants:
            a = np.zeros(shape)
            a[tuple(rng.integers(0, n) for n in shape)] = 1
            out[t.name] = np.vectorize(sp.Integer, otypes=[object])(a.astype(int)) if exact else a
        elif exact:
            values = rng.choice(np.arange(1, 10**6), size=int(np.prod(shape)), replace=False)  # distinct: no ties
            signs = np.ones(values.size, dtype=int) if positive else rng.choice([-1, 1], size=values.size)
            out[t.name] = np.array([sp.Rational(int(s * v), 999983) for s, v in zip(signs, values)],
                                   dtype=object).reshape(shape)
        else:
            out[t.name] = rng.standard_normal(shape)
    return out


def is_polynomial(program) -> bool:
    from symderive.index.derive import Pointwise, SoftmaxCrossEntropy, WindowMax

    return not any(isinstance(op, (Pointwise, SoftmaxCrossEntropy, WindowMax)) for op in program.ops)


def index_symbolic_check(d, program, bw, case: dict) -> dict[str, bool]:
    """Brute force: ``sympy.diff`` of the loss of an explicit instantiation (max pooling as
    ``sympy.Max``, relu as ``Max(0, x)``) against the derived index formulas evaluated by the naive
    interpreter. Polynomial losses (convolutions) are compared as polynomials in symbols for every
    entry; the others at a point of distinct rationals (exact, except exp/log: 50 digits)."""
    from symderive.index import evaluate as ie

    sizes = case_sizes(d, case)
    names = [t.name for t in program.differentiated]
    shapes = {t.name: ie.Env({}, sizes).shape(t) for t in program.arguments}
    symbols = {n: np.array([sp.Symbol(f"{n}[{','.join(map(str, k))}]") for k in np.ndindex(shapes[n])],
                           dtype=object).reshape(shapes[n]) for n in names}
    point_arrays = index_arguments(program, sizes, seed=3, exact=True, positive=d.symbolic_positive)
    polynomial = is_polynomial(program)
    derived_env = ie.Env(dict({**point_arrays, **symbols} if polynomial else point_arrays), sizes, symbolic=True)
    ie.backward(bw, ie.forward(program, derived_env))
    if polynomial:
        brute = ie.forward(program, ie.Env({**point_arrays, **symbols}, sizes, symbolic=True))[program.loss.name]
    result = {}
    for t in program.differentiated:
        n = t.name
        derived = derived_env[bw.of(t).adjoint.name]
        ok = True
        for position, s, want in zip(np.ndindex(shapes[n]), symbols[n].flat, derived.flat):
            if polynomial:
                ok &= sp.expand(sp.diff(brute, s) - want) == 0
            else:  # only this entry symbolic: the loss as a function of one variable, differentiated, at the point
                one = point_arrays[n].copy()
                one[position] = s
                loss = ie.forward(program, ie.Env({**point_arrays, n: one}, sizes, symbolic=True),
                                  brute_max=True)[program.loss.name]
                diff = sp.sympify(sp.diff(loss, s).subs(s, point_arrays[n][position]) - want)
                ok &= diff == 0 or abs(sp.N(diff, 50)) < sp.Float("1e-40")
            if not ok:
                break
        result[n] = bool(ok)
    return result


def verify_index_derivation(d) -> Report:
    """Every gradient of every variant: symbolic at the small cases, central differences and the
    naive interpreter at the numeric cases, and torch where installed."""
    from symderive.index import evaluate as ie

    report = Report(d.name)
    module = d.load_module()
    for tag, program in d.variants:
        bw = d.backwards[tag]
        names = [t.name for t in program.differentiated]
        symbolic = {n: True for n in names}
        for case in d.symbolic_cases:
            for n, ok in index_symbolic_check(d, program, bw, case).items():
                symbolic[n] &= ok
        prefix = f"{tag}: " if len(d.variants) > 1 else ""
        for k, case in enumerate(d.numeric_cases):
            sizes = case_sizes(d, case)
            options = case_options(d, case, tag)
            arrays = index_arguments(program, sizes, seed=k)
            grads = module.grad(**arrays, **options)
            env = ie.backward(bw, ie.forward(program, ie.Env(dict(arrays), sizes)))
            reference = torch_gradients(d, arrays, options, tag)
            loss = lambda a: module.loss(**a, **options)  # noqa: E731
            for t in program.differentiated:
                n = t.name
                rel, mx, close = compare(grads[n], central_differences(loss, arrays, n))
                same = compare(grads[n], env[bw.of(t).adjoint.name])[2]
                cell = torch_cell(reference, n, grads) if reference is None or n in reference else "-"
                report.rows.append(Row(f"{prefix}dL/d{n} ({case_label(d, case)})", symbolic[n], rel, mx,
                                       close and same, cell))
    report.notes.append("symbolic: sympy.diff of the explicit instantiation against the derived index formulas at "
                        + "; ".join(map(sizes_text, d.symbolic_cases))
                        + "; numeric: central differences of the exported loss, and the derived formulas by the naive "
                          "interpreter, at " + "; ".join(map(sizes_text, d.numeric_cases)))
    for check in d.extra_checks:
        report.rows.append(check(d))
    return report

