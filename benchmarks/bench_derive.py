"""Benchmark: the time to derive a recurrent model and generate its exported module does not depend on the sizes.

The derivation is shape-generic (``W_hh`` is an n x n matrix symbol, the loss a sum over a symbolic T) and the
exported module reads n, d, T and the batch B off the arrays at call time, so the same derive + codegen serves
every size. Each row is the median of a few fresh processes (interleaved), each of which derives the model
(``symderive.derivation(NAME)`` and its backward programs), generates the module source, loads it, and then calls
its ``grad`` once at that row's sizes (checking every gradient's shape): the first columns are the same work
whatever the size; the last one, the first call, is where the size goes.

Fresh processes, because the library caches what it derived: ``symderive.derivations`` builds each built-in once
per process, a Derivation keeps its backward programs (``cached_property``), ``symderive.matrix.evaluate`` keeps
two ``lru_cache``s and SymPy its own cache; a second derivation in one process would time the caches.

    python benchmarks/bench_derive.py [--quick] [rnn] [lstm] [gru]
"""
import harness  # noqa: F401,I001  (pins threads before NumPy)

import json
import statistics
import subprocess
import sys
import time
import types

MODELS = ("rnn", "lstm", "gru")
# B=1: one sequence, unbatched (x of shape (T, d)); B > 1: a minibatch (x of shape (B, T, d))
SIZES = [dict(n=8, d=4, T=5, B=1), dict(n=64, d=32, T=50, B=1), dict(n=64, d=32, T=50, B=32),
         dict(n=256, d=128, T=100, B=32)]
Q = 16


def call_arrays(module, n, d, T, B):
    """Random arguments of the exported module at these sizes (SHAPES), a batch axis B on BATCH's when B > 1."""
    import numpy as np

    named, rng = {"n": n, "H": n, "d": d, "q": Q, "T": T}, np.random.default_rng(0)
    arrays = {}
    for arg, axes in module.SHAPES.items():
        shape = (*((B,) if B > 1 and arg in module.BATCH else ()), *(named[a] for a in axes))
        arrays[arg] = 0.3 * rng.standard_normal(shape)
    return arrays


def child(name: str, n: int, d: int, T: int, B: int) -> dict:
    """In a fresh process: seconds to derive, to generate and load the module, and of its first grad call."""
    start = time.perf_counter()
    from symderive import derivation

    imported = time.perf_counter()
    der = derivation(name)
    variants = len(der.backwards)  # every variant's backward program (one for these models)
    derived = time.perf_counter()
    source = der.module_source()
    generated = time.perf_counter()
    module = types.ModuleType(f"bench_{name}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)  # the module just generated
    loaded = time.perf_counter()
    arrays = call_arrays(module, n, d, T, B)
    before = time.perf_counter()
    grads = module.grad(**arrays)
    called = time.perf_counter()
    if any(grads[k].shape != v.shape for k, v in arrays.items()):
        raise AssertionError(f"{name}: a gradient's shape differs from its argument's at n={n} T={T} B={B}")
    return {"import": imported - start, "derive": derived - imported, "generate": generated - derived,
            "load": loaded - generated, "first call": called - before, "variants": variants}


def run_child(name: str, size: dict) -> dict:
    args = [sys.executable, __file__, "--child", name, *(str(size[k]) for k in ("n", "d", "T", "B"))]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def medians(cells: list, repeats: int) -> dict:
    """(name, size index) -> medians over ``repeats`` fresh processes of :func:`child`, the cells interleaved
    round by round (a change of the machine's load slows them alike)."""
    runs = {cell: [] for cell in cells}
    for _ in range(repeats):
        for name, i in cells:
            runs[name, i].append(run_child(name, SIZES[i]))
    return {cell: {part: statistics.median(r[part] for r in rs) for part in rs[0]} for cell, rs in runs.items()}


def table(chosen: list, repeats: int) -> str:
    found = medians([(name, i) for name in chosen for i in range(len(SIZES))], repeats)
    lines = ["| model | n, d, T, B | derive (s) | generate code (s) | derive + generate (s) | first grad call (ms) |",
             "|---|---|---|---|---|---|"]
    for (name, i), m in found.items():
        size = SIZES[i]
        label = f"{size['n']}, {size['d']}, {size['T']}, " + (str(size["B"]) if size["B"] > 1 else "unbatched")
        lines.append(f"| {name} | {label} | {m['derive']:.3f} | {m['generate']:.3f} | "
                     f"{m['derive'] + m['generate']:.3f} | {m['first call'] * 1e3:.1f} |")
    imports = statistics.median(m["import"] for m in found.values())
    return "\n".join(lines) + f"\n\n(before them, `import symderive` in each process: median {imports:.2f} s)"


def main():
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], *map(int, sys.argv[3:7]))))
        return
    quick = "--quick" in sys.argv
    chosen = [name for name in MODELS if name in sys.argv] or list(MODELS)
    repeats = 3 if quick else 5
    print(f"derive + generate code, fresh processes, medians of {repeats} (q={Q}):\n")
    print(table(chosen, repeats))


if __name__ == "__main__":
    main()
