"""The public API in symderive/__init__.py: typed and documented, and its names never shadowed by submodules."""
import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap
import typing

import pytest
import sympy

import symderive
from symderive.judge.check import ClaimResult
from symderive.model import Model, Program
from symderive.pipeline import Derivation

PUBLIC_FUNCTIONS = ("available", "derivation", "check", "parse_latex", "derive")
#: names of public functions that no submodule may take
RESERVED = set(PUBLIC_FUNCTIONS)


def submodules() -> list[str]:
    """Every module of the package, symderive.derivations (installed from derivations/) included."""
    names = []
    for package in (symderive, importlib.import_module("symderive.derivations")):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return sorted(set(names))


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_is_typed_and_documented(name):
    function = getattr(symderive, name)
    names = {"Derivation": Derivation, "ClaimResult": ClaimResult, "sympy": sympy, "Model": Model, "Program": Program}
    hints = typing.get_type_hints(function, localns=names)
    assert set(hints) == {*inspect.signature(function).parameters, "return"}
    assert len(inspect.getdoc(function).splitlines()) >= 2


def test_public_names_are_exported():
    assert set(PUBLIC_FUNCTIONS) <= set(symderive.__all__)
    assert all(hasattr(symderive, name) for name in symderive.__all__)


def test_no_submodule_takes_the_name_of_a_public_function():
    # `import symderive.check` would bind the module to symderive.check, replacing the function.
    children = {name.split(".")[1] for name in submodules()}
    assert not children & RESERVED


def test_check_can_be_called_twice_after_every_submodule_is_imported():
    # In a fresh process, so that the result does not depend on what other tests imported before.
    script = textwrap.dedent(r'''
        import importlib, sys
        import symderive
        for name in sys.argv[1:]:
            importlib.import_module(name)
        model = [r"z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2"]
        claim = r"\frac{\partial L}{\partial W} = ((a - y) \odot a \odot (1 - a)) x^T"
        for _ in range(2):
            print(symderive.check(model=model, claims=[claim])[0].verdict)
    ''')
    modules = submodules()
    assert "symderive.judge.check" in modules and "symderive.derivations.rnn" in modules
    result = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["equal", "equal"]


def test_derive_reads_a_model_written_in_latex():
    # The first model of the README's "Your own model", as equations: the same Derivation as the built-ins.
    model = [r"h_t = \sigma(W_{hh} h_{t-1} + W_{xh} x_t + b_h)", r"L = \sum_{t=1}^{T} \frac{1}{2}\|h_t - y_t\|^2"]
    d = symderive.derive(model=model, where=[r"\delta_t = \frac{\partial L}{\partial h_t}"],
                         shapes={"W_{hh}": "n x n", "W_{xh}": "n x d"}, name="sigmoid_rnn")
    assert isinstance(d, Derivation) and d.recurrent and d.title == "sigmoid_rnn"
    module = d.load_module()
    assert module.SHAPES["W_xh"] == ("n", "d") and module.SYMBOLS["W_xh"] == "W_{xh}"
    assert r"\delta_{t}" in d.to_latex("markdown")
    # sigma' = sigma (1 - sigma): a tanh' in its place is refuted.
    right = r"\frac{\partial L}{\partial b_h} = \sum_{t=1}^{T} \delta_t \odot h_t \odot (1 - h_t)"
    wrong = r"\frac{\partial L}{\partial b_h} = \sum_{t=1}^{T} \delta_t \odot (1 - h_t^2)"
    results = d.check([right, wrong])
    assert all(isinstance(r, ClaimResult) for r in results)
    assert [r.verdict for r in results] == ["equal", "not_equal"]


def test_derive_reads_one_string_with_either_separator():
    one = symderive.derive(model=r"z = W x + b; a = \sigma(z); L = \frac{1}{2}\|a - y\|^2")
    other = symderive.derive(model=r"z = W x + b \\ a = \sigma(z) \\ L = \frac{1}{2}\|a - y\|^2")
    assert one.to_latex() == other.to_latex() and one.module_source() == other.module_source()


def test_derive_reads_one_text_as_a_model_file():
    """A file's text (an align block, or one equation a line) is read as --model-file reads it."""
    block = ("\\begin{align}\nz &= W x + b \\\\\na &= \\sigma(z) \\\\\n"
             "L &= \\frac{1}{2}\\|a - y\\|^2\n\\end{align}\n")
    lines = "z = W x + b\na = \\sigma(z)\nL = \\frac{1}{2}\\|a - y\\|^2\n"
    one_line = r"z = W x + b; a = \sigma(z) \\ L = \frac{1}{2}\|a - y\|^2"
    sources = {symderive.derive(model=text).module_source() for text in (block, lines, one_line)}
    assert len(sources) == 1
