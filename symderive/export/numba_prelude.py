"""The code at the top of a numba module (see :mod:`symderive.export.numba_code`): numba's import, the
compiled ``tanh``, and the ``_Kernel`` that runs a lifted loop compiled or as NumPy code.

Numba compiles a kernel once per argument types (one example, a minibatch) at its first call, in seconds;
``cache=True`` keeps the compiled code in ``__pycache__`` when the module is a file. Compiled, a step
costs no Python call, which wins when a step's rows are short; on long rows NumPy's vectorized ``tanh``
and ``exp`` win, so a kernel times both on its first calls at new shapes and keeps the faster (the
module's ``DISPATCH`` can force one). If numba cannot compile a kernel (an op of a user's model numba does
not know), the loop runs as NumPy code after a ``RuntimeWarning`` naming it."""

PRELUDE = '''
try:
    import numba
except ImportError:  # pragma: no cover - the message is the point
    raise ImportError("this module was exported with --backend numba and needs numba: "
                      "pip install numba scipy (or pip install 'symderive[numba]')") from None
import math as _math
import sys as _sys
import time as _time
import warnings as _warnings

# numba caches compiled kernels for a module imported from a file; a module run without a name in
# sys.modules (exec_module alone) would leave a cache that later imports of the file cannot load
_CACHE = "__file__" in globals() and _sys.modules.get(__name__) is not None and \
    _sys.modules[__name__].__dict__ is globals()
# Which loop a kernel runs: "fastest" (the compiled loop or NumPy's, whichever its first calls at these
# shapes measured faster), "compiled" or "python" (always that one). The two compute the same formulas;
# they differ in the last bits (numba's tanh and exp are the C library's, NumPy's are vectorized).
DISPATCH = "fastest"
_TRIALS = 3  # timed calls of each loop at new shapes, after one untimed call that compiles

_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)


@numba.vectorize(["float64(float64)"], cache=_CACHE)
def _tanh(x):
    """tanh(x) for the compiled loops, within 4e-16 of NumPy's and about twice as fast as the C library's:
    Cephes' x + x^3 P(x^2) / Q(x^2) for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1) with the sign of x
    (1 for |x| > 22, where tanh rounds to 1)."""
    z = abs(x)
    if z == 0.0:  # keeps the sign of zero
        return x
    if z > 22.0:
        return _math.copysign(1.0, x)
    if z >= 0.625:
        return _math.copysign(1.0 - 2.0 / (_math.exp(2.0 * z) + 1.0), x)
    s = x * x
    return x + x * s * ((_P[0] * s + _P[1]) * s + _P[2]) / (((s + _Q[0]) * s + _Q[1]) * s + _Q[2])


def _reason(error):
    """The line of numba's message that names what it could not compile (its first line is generic)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    told = [line for line in lines if not line.startswith(("Failed in", "During:", "File ", "^", "-", ">>>"))]
    return (told or lines or ["no message"])[0][:200]


class _Kernel:
    """A loop lifted out of a generated function, compiled by numba at its first call (a Python list
    argument, such as ``carry``, is passed as an array). Compiled, a step costs no Python call, which wins
    when a step's rows are short; NumPy's vectorized tanh and exp win when they are long, so at each new
    set of shapes the first calls alternate between the two and time them (see DISPATCH). When numba
    cannot compile the loop, it runs as Python code after a RuntimeWarning."""

    def __init__(self, compiled, python, where):
        self.python, self.where, self.times, self.warm = python, where, {}, set()
        self.compiled = numba.njit(cache=_CACHE, error_model="numpy")(compiled)

    def __call__(self, *args):
        args = [np.asarray(a) if isinstance(a, list) else a for a in args]
        if DISPATCH != "fastest":
            return self._compiled(args) if DISPATCH == "compiled" else self.python(*args)
        key = tuple(a.shape if isinstance(a, np.ndarray) else type(a) for a in args)
        times = self.times.setdefault(key, {"compiled": [], "python": []})
        if min(len(v) for v in times.values()) >= _TRIALS:
            return self._compiled(args) if min(times["compiled"]) < min(times["python"]) else self.python(*args)
        if key not in self.warm:  # the first call at these shapes compiles: not timed
            self.warm.add(key)
            return self._compiled(args)
        kind = "compiled" if len(times["compiled"]) <= len(times["python"]) else "python"
        start = _time.perf_counter()
        out = self._compiled(args) if kind == "compiled" else self.python(*args)
        times[kind].append(_time.perf_counter() - start)
        return out

    def _compiled(self, args):
        try:
            return self.compiled(*args)
        except (numba.core.errors.NumbaError, NotImplementedError) as error:  # numba's two ways to refuse
            if self.compiled is self.python:
                raise
            _warnings.warn(f"numba could not compile {self.where}; it runs as Python code ({_reason(error)})",
                           RuntimeWarning, stacklevel=3)
            self.compiled = self.python
            return self.python(*args)
'''

