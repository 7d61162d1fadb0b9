"""The exported module and the first numeric case of each derivation, shared by the export tests."""
import functools

import numpy as np

from symderive import derivation


@functools.cache
def module(name):
    return derivation(name).load_module()


@functools.cache
def first_case(name):
    """The arrays and keyword options of the derivation's first numeric case (a valid call)."""
    d = derivation(name)
    tag, program = d.variants[0]
    case = d.engine.cases(program, tag)[0]
    return case.arrays, case.options


def assert_batch_is_its_examples(module, arrays: dict, grad_of_example, B: int):
    """``module.grad`` of a batch: each per-example argument's gradient the example's own (stacked), every other
    gradient the sum of the examples' (``grad_of_example``: the gradient of one example's arguments)."""
    got = module.grad(**arrays)
    each = [grad_of_example(**{k: v[b] if k in module.BATCH else v for k, v in arrays.items()}) for b in range(B)]
    for name, value in got.items():
        want = np.stack([e[name] for e in each]) if name in module.BATCH else sum(e[name] for e in each)
        np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=name)
