r"""Fuzzing `check`: random models and claims from the grammar, judged in a child process with a time and
a memory limit; the only acceptable answers are our own errors and verdicts, and a "holds" always has
evidence (entries compared, a finite error within the tolerance).

The cases are Hypothesis strategies (:func:`cases`): a built-in derivation or a model from a template
(a dense layer, two layers, an RNN) with a random activation and random ``--shape`` declarations (sizes
0, 1, 64, 65, 10000, names, junk); claims that are a correct formula perturbed, or an expression of the
grammar (symbols at any step, derivatives, transposes, powers, activations, norms, sums and products
over any bounds, fractions, concatenations) with numbers huge and tiny (``10^{400}``, ``2^{10^{6}}``,
``\frac{0}{0}``, ``1.5 \cdot 10^{-307}``); definitions (``--where``) correct, circular or random.

The child (:func:`worker`) sets its own limits with ``resource.setrlimit`` and answers one case per line;
the parent (:class:`Fuzzer`) kills it when a case takes longer than :data:`CASE_SECONDS` (a hang) and
starts another when it dies (a blow-up).

``tests/judge/test_fuzz_check.py`` runs a few dozen cases with every test run; ``make fuzz`` runs this
file for ``FUZZ_SECONDS`` (default 60) and prints how many inputs it ran and what it found.
"""
from __future__ import annotations

import functools
import json
import math
import os
import select
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: a case answered later than this hangs (the checker's own limits end a legitimate one far sooner)
CASE_SECONDS = 60.0
#: the child's address space (the checker needs about 0.2 GB; a blow-up meets MemoryError)
MEMORY_BYTES = 2 * 1024 ** 3
REL_TOL = 1e-8
VERDICTS = ("equal", "not_equal", "error")

# ---------------------------------------------------------------------------------------------
# The grammar.

ACTIVATIONS = (r"\sigma", r"\tanh", r"\operatorname{relu}", r"\operatorname{softplus}", r"\exp")
NUMBERS = ("0", "1", "2", "0.5", r"\frac{1}{2}", "3.25", "-1", r"\pi", "10^{-8}", "10^{300}", "10^{-300}",
           "10^{301}", "10^{400}", "10^{-400}", "2^{10^{6}}", "10^{10^{10}}", "(10^{12})^{400}", "999999999999",
           "1234567890123", r"\frac{0}{0}", r"\frac{1}{0}", r"\sqrt{-1}", "(-1)^{0.5}", "1.5^{1000}", "0^{0}",
           "0^{-1}")
EXPONENTS = ("2", "-1", "-2", "0.5", "3", "0", "64", "65", "99999", "10^{6}", r"\frac{1}{3}", "T", "t", r"\sqrt{-1}")
BOUNDS = ("0", "1", "2", "t", "t-1", "t+1", "T", "T+1", "T-1", "i", "999999999999", "-5")
#: forms of one and of two sub-expressions (written at § and ¶)
UNARY = ("(§)^T", r"(§)^\top", r"\sigma(§)", r"\tanh(§)", r"\sigma'(§)", r"\tanh'(§)", r"\exp(§)", r"\log(§)",
         r"\operatorname{diag}(§)", r"\|§\|", r"\|§\|^2", r"\sqrt{§}", "-(§)", r"\operatorname{softmax}(§)",
         r"\operatorname{relu}(§)", "(§)_{1}", "(§)_{0}", "[§]")
BINARY = ("§ + ¶", "§ - ¶", "§ ¶", r"§ \odot ¶", r"\frac{§}{¶}", r"§ \cdot ¶", "[§, ¶]", "(§)(¶)")


def fill(form: str, first: str, second: str = "") -> str:
    return form.replace("§", first).replace("¶", second)


@dataclass(frozen=True)
class Template:
    """A model to judge claims against: equations (or a built-in's name), its symbols, and correct claims
    (with ``F`` for the activation)."""

    equations: tuple
    symbols: tuple
    good: tuple
    derivation: str | None = None


TEMPLATES = (
    Template((r"z = W x + b", r"a = F(z)", r"L = \frac{1}{2}\|a - y\|^2"), ("W", "x", "b", "z", "a", "y"),
             (r"\frac{\partial L}{\partial b} = (a - y) \odot F'(z)",
              r"\frac{\partial L}{\partial W} = ((a - y) \odot F'(z)) x^T")),
    Template((r"z = W x + b", r"h = F(z)", r"o = V h + c", r"L = \frac{1}{2}\|o - y\|^2"),
             ("W", "V", "x", "b", "c", "z", "h", "o", "y"),
             (r"\frac{\partial L}{\partial c} = o - y", r"\frac{\partial L}{\partial V} = (o - y) h^T",
              r"\frac{\partial L}{\partial b} = (V^T (o - y)) \odot F'(z)")),
    Template((r"h_t = F(W h_{t-1} + U x_t + b)", r"o_t = V h_t + c", r"L = \sum_{t=1}^{T} \ell(o_t, y_t)"),
             ("W", "U", "V", "b", "c", "h_t", "h_{t-1}", "h_{t+1}", "h_0", "h_T", "h_i", "x_t", "o_t", "y_t"),
             (r"\frac{\partial L}{\partial c} = \sum_{t=1}^{T} \frac{\partial \ell_t}{\partial o_t}",
              r"\frac{\partial L}{\partial V} = \sum_{t=1}^{T} \frac{\partial \ell_t}{\partial o_t} h_t^T")),
    Template((), ("W_{hh}", "W_{xh}", "W_{hy}", "h_t", "h_{t-1}", "x_t", "o_t", r"\delta_t", r"\delta_{t+1}"),
             (r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top",
              r"\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2) W_{hh}"), "rnn"),
    Template((), ("W", "x", "b", "z", "a", "y"),
             (r"\frac{\partial L}{\partial b} = (a - y) \odot a \odot (1 - a)",), "dense"),
)
SIZES = ("0", "1", "2", "3", "64", "65", "10000", "n", "m", "T", "2.5", "n_h", "")
JUNK_NAMES = ("q", "W_{zz}", "L", "\\ell")


@functools.lru_cache(maxsize=None)
def expressions(symbols: tuple) -> st.SearchStrategy:
    """Right-hand sides of the grammar over ``symbols``: leaves, then unary, binary and big operators."""
    derivatives = [r"\frac{\partial L}{\partial " + s + "}" for s in symbols[:4]]
    derivatives += [r"\frac{\partial \ell_t}{\partial o_t}", r"\frac{\partial h_t}{\partial h_{t-1}}",
                    r"\frac{\partial h_t}{\partial h_i}", r"\frac{\partial L}{\partial o_0}"]
    leaves = st.one_of(st.sampled_from(symbols + ("I", "q", r"\delta_{ij}", "t", "T")), st.sampled_from(NUMBERS),
                       st.sampled_from(derivatives), numbers())

    def extend(inner):
        return st.one_of(
            st.builds(fill, st.sampled_from(UNARY), inner),
            st.builds(lambda e, p: f"({e})^{{{p}}}", inner, st.sampled_from(EXPONENTS)),
            st.builds(fill, st.sampled_from(BINARY), inner, inner),
            st.builds(lambda op, v, lo, hi, e: rf"\{op}_{{{v}={lo}}}^{{{hi}}} {e}", st.sampled_from(("sum", "prod")),
                      st.sampled_from(("t", "j", "k")), st.sampled_from(BOUNDS), st.sampled_from(BOUNDS), inner))

    return st.recursive(leaves, extend, max_leaves=8)


def numbers() -> st.SearchStrategy:
    """Numbers written as a person would, from tiny to huge: integers, decimals, and ``m \\cdot 10^{e}``."""
    return st.one_of(st.integers(-10 ** 15, 10 ** 15).map(str),
                     st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.6f}"),
                     st.builds(lambda m, e: f"{m:.3g} \\cdot 10^{{{e}}}", st.floats(0.1, 9.9), st.integers(-400, 400)))


@st.composite
def claims(draw, template: Template, activation: str) -> str:
    """A correct claim perturbed (or not), or a derivative equal to an expression of the grammar."""
    rhs = expressions(template.symbols)
    good = draw(st.sampled_from(template.good)).replace("F", activation)
    kind = draw(st.sampled_from(("good", "plus", "times", "random")))
    if kind == "good":
        return good
    if kind == "plus":
        return f"{good} + {draw(rhs)}"
    if kind == "times":
        lhs, right = good.split(" = ", 1)
        return f"{lhs} = {draw(st.sampled_from(NUMBERS))} ({right})"
    wrt = draw(st.sampled_from(template.symbols + JUNK_NAMES))
    return rf"\frac{{\partial L}}{{\partial {wrt}}} = {draw(rhs)}"


@st.composite
def shapes(draw, template: Template) -> list:
    """Mostly none; else declarations of the model's names (or junk) at sizes that are legal or not."""
    if draw(st.integers(0, 3)) > 0:
        return []
    names = st.sampled_from([s.split("_")[0] for s in template.symbols] + list(JUNK_NAMES))
    declaration = st.builds(lambda n, sizes: f"{n}: {' x '.join(sizes)}", names,
                            st.lists(st.sampled_from(SIZES), min_size=1, max_size=3))
    return draw(st.lists(declaration, min_size=1, max_size=3))


@st.composite
def wheres(draw, template: Template) -> list:
    """Definitions: none, the adjoint ``\\delta_t``, a circular one, or a random one."""
    return draw(st.sampled_from(([], [r"\delta_t = \frac{\partial L}{\partial h_t}"], [r"\delta = \delta"],
                                 [r"\delta_t = \delta_{t+1} + h_t"], [r"\delta = \epsilon", r"\epsilon = \delta"],
                                 [rf"\delta_t = {draw(expressions(template.symbols))}"])))


@st.composite
def models(draw, template: Template, activation: str) -> list:
    """The template's equations, mostly as they are; else one of them changed by the grammar (a term added,
    its right side replaced) or written twice."""
    equations = [e.replace("F", activation) for e in template.equations]
    k = draw(st.integers(0, len(equations) - 1))
    lhs, rhs = equations[k].split(" = ", 1)
    change = draw(st.sampled_from(("none", "none", "plus", "replace", "twice")))
    if change == "plus":
        equations[k] = f"{lhs} = {rhs} + {draw(expressions(template.symbols))}"
    elif change == "replace":
        equations[k] = f"{lhs} = {draw(expressions(template.symbols))}"
    elif change == "twice":
        equations.insert(k, equations[k])
    return equations


@st.composite
def cases(draw) -> dict:
    """One call of ``check``: its keyword arguments."""
    template = draw(st.sampled_from(TEMPLATES))
    activation = draw(st.sampled_from(ACTIVATIONS))
    case = {"claims": draw(st.lists(claims(template, activation), min_size=1, max_size=2)),
            "where": draw(wheres(template)), "shapes": draw(shapes(template))}
    if template.derivation:
        return {**case, "derivation": template.derivation}
    return {**case, "model": draw(models(template, activation))}


# ---------------------------------------------------------------------------------------------
# The child: limits, then one answer per case.


def answer(case: dict) -> dict:
    """What ``check`` did with the case: verdicts, one of our errors, or a foreign exception (a finding)."""
    from symderive import SymderiveError, check

    try:
        results = check(**case)
    except SymderiveError as e:
        return {"outcome": "error", "type": type(e).__name__, "message": str(e)[:300]}
    except BaseException as e:  # noqa: B036 - anything else that escapes is what the fuzz looks for
        return {"outcome": "foreign", "type": type(e).__name__, "message": str(e)[:300],
                "traceback": traceback.format_exc()[-4000:]}
    return {"outcome": "verdicts", "results": [
        {"verdict": r.verdict, "max_rel_error": r.max_rel_error, "compared": r.compared,
         "diagnosis": r.diagnosis[:200], "method": r.method} for r in results]}


def worker() -> None:
    """Limit this process's memory, then answer each case (a JSON line on stdin) with a JSON line."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    for line in sys.stdin:
        print(json.dumps(answer(json.loads(line)), default=str), flush=True)


# ---------------------------------------------------------------------------------------------
# The parent: a child per run, replaced when it hangs or dies.


class Fuzzer:
    """Runs cases in a child process with :data:`CASE_SECONDS` and :data:`MEMORY_BYTES` as limits."""

    def __init__(self, case_seconds: float = CASE_SECONDS):
        self.case_seconds, self.child = case_seconds, None

    def start(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.wait()
            self.child = None

    def __enter__(self) -> "Fuzzer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def run(self, case: dict) -> dict:
        """The child's answer to ``case``, or ``{"outcome": "hang"}`` / ``{"outcome": "crash"}``."""
        if self.child is None:
            self.start()
        start = time.monotonic()
        self.child.stdin.write(json.dumps(case) + "\n")
        self.child.stdin.flush()
        ready, _, _ = select.select([self.child.stdout], [], [], self.case_seconds)
        line = self.child.stdout.readline() if ready else None
        if not line:
            code = self.child.poll()
            self.stop()
            return {"outcome": "hang" if line is None else "crash", "code": code}
        return {**json.loads(line), "seconds": time.monotonic() - start}


def problem(response: dict) -> str | None:
    """Why an answer is not acceptable (None when it is): a hang, a crash, a foreign exception, an unknown
    verdict, or "holds" without evidence (no entry compared, or an error that is not finite or too large)."""
    outcome = response["outcome"]
    if outcome == "hang":
        return f"no answer within {CASE_SECONDS:.0f} s"
    if outcome == "crash":
        return f"the child died (exit code {response.get('code')})"
    if outcome == "foreign":
        return f"{response['type']}: {response['message']}\n{response['traceback']}"
    for r in response.get("results", []):
        if r["verdict"] not in VERDICTS:
            return f"unknown verdict {r['verdict']!r}"
        error = r["max_rel_error"]
        finite = isinstance(error, (int, float)) and math.isfinite(error) and error <= REL_TOL
        if r["verdict"] == "equal" and not (r["compared"] > 0 and finite):
            return f"holds without finite evidence: {r}"
    return None


# ---------------------------------------------------------------------------------------------
# A longer run (make fuzz).


@dataclass
class Tally:
    """What a run saw: inputs, outcomes, the slowest case, and the problems with their (shrunk) cases."""

    inputs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    slowest: tuple = (0.0, None)
    problems: list = field(default_factory=list)
    shrunk: tuple | None = None  # the last failing case of the batch running

    def add(self, case: dict, response: dict) -> str | None:
        self.inputs += 1
        kinds = [r["verdict"] for r in response.get("results", [])] or [response["outcome"]]
        self.outcomes.update(kinds)
        if response.get("seconds", 0.0) > self.slowest[0]:
            self.slowest = (response["seconds"], case)
        return problem(response)

    def keep(self, case: dict, why: str) -> None:
        """Keep a problem, once per first line of its reason (a batch often meets the same one again)."""
        if all(why.splitlines()[0] != seen.splitlines()[0] for _, seen in self.problems):
            self.problems.append((case, why))

    def report(self, seconds: float) -> str:
        lines = [f"fuzz_check: {self.inputs} inputs in {seconds:.0f} s; outcomes: {dict(self.outcomes)}",
                 f"slowest case: {self.slowest[0]:.1f} s: {json.dumps(self.slowest[1])}",
                 f"problems found: {len(self.problems)}"]
        lines += [f"--- {json.dumps(case)}\n{why}" for case, why in self.problems]
        return "\n".join(lines)


def fuzz(seconds: float, batch: int = 50) -> Tally:
    """Hypothesis batches of ``batch`` cases until ``seconds`` have passed. A failure is shrunk to a small
    case and kept; a hang is kept as it came (shrinking it would cost a minute a step)."""
    tally, end = Tally(), time.monotonic() + seconds
    with Fuzzer() as fuzzer:
        @settings(max_examples=batch, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(cases())
        def one(case):
            response = fuzzer.run(case)
            why = tally.add(case, response)
            if why and response["outcome"] == "hang":
                tally.keep(case, why)
            elif why:
                tally.shrunk = (case, why)
                raise AssertionError(why)

        while time.monotonic() < end:
            tally.shrunk = None
            try:
                one()
            except Exception:  # a finding: the last failing case is the shrunk one
                tally.keep(*tally.shrunk)
    return tally


def main() -> int:
    seconds = float(os.environ.get("FUZZ_SECONDS", "60"))
    start = time.monotonic()
    tally = fuzz(seconds)
    print(tally.report(time.monotonic() - start))
    return 1 if tally.problems else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        sys.exit(main())
