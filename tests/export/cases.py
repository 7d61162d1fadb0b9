"""The exported module and the first numeric case of each derivation, shared by the export tests."""
import functools

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
