"""The backends an export can be written for: ``numpy`` (the generated module as it is) and ``numba``
(its loops over time steps compiled; see :mod:`symderive.export.numba_code`)."""
from __future__ import annotations

import importlib.util

from symderive.errors import OptionError
from symderive.export.numba_code import numba_source

BACKENDS = ("numpy", "numba")


def backend_source(numpy_source: str, backend: str) -> str:
    """The module for ``backend`` from the NumPy module's source."""
    if backend not in BACKENDS:
        raise OptionError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")
    if backend == "numpy":
        return numpy_source
    if importlib.util.find_spec("numba") is None:
        raise OptionError("the numba backend needs numba, which is not installed: pip install numba scipy "
                          "(or pip install 'symderive[numba]')")
    return numba_source(numpy_source)
