"""A check of an export at keyword arguments other than the defaults (attention's ``causal=True``, a layer norm's
``eps``): central differences of the export's own loss, and the derivation's torch reference at the same keywords."""
from __future__ import annotations

import importlib.util

from symderive.verify.numeric import central_differences, compare, worst
from symderive.verify.report import Row


def keyword_check(options: dict, reference, names: tuple[str, ...] | None = None):
    """The check ``check(d, arrays) -> Row`` of the gradients of ``names`` (default: every argument) at ``options``;
    ``reference(arrays, **options)`` gives torch's gradients."""

    def check(d, arrays) -> Row:
        module, wanted = d.load_module(), names or tuple(arrays)
        grads = module.grad(**arrays, **options)
        rel, mx, close = worst(compare(grads[k], central_differences(lambda a: module.loss(**a, **options), arrays, k))
                               for k in wanted)
        cell = "-"
        if importlib.util.find_spec("torch") is not None:
            torch_grads = reference(arrays, **options)
            largest = max(compare(grads[k], torch_grads[k])[0] for k in arrays)
            cell = f"torch {'ok' if largest < 1e-9 else 'FAIL'} {largest:.0e}"
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        return Row(f"dL/d({', '.join(wanted)}), {shown}", None, rel, mx, close, cell)

    return check
