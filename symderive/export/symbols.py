r"""The LaTeX of every argument of an exported module, as the model writes it (``SYMBOLS``).

At matrix level an argument prints as the document prints it: through the model's ``latex_names``
(a model read from LaTeX records each identifier's LaTeX there: ``W_hh -> W_{hh}``), else by the default
rule (``W_hh -> W_{hh}``, ``h0 -> h_{0}``), a sequence at step t (``x_{t}``). At index level an argument
is a tensor, whose ``tex`` spells it (``beta -> \beta``).
"""
from __future__ import annotations

from functools import singledispatch

from symderive.index.program import IndexProgram
from symderive.matrix.latex_printer import to_latex
from symderive.model.program import Program, arguments, key


@singledispatch
def argument_symbols(program, latex_names: dict) -> dict[str, str]:
    """``{argument name: its LaTeX}`` in the order of the module's ``SHAPES``."""
    raise TypeError(f"no argument symbols for a {type(program).__name__}")


@argument_symbols.register
def _(program: Program, latex_names: dict) -> dict[str, str]:
    return {key(v): ungrouped(to_latex(v, latex_names=latex_names)) for v in arguments(program)}


def ungrouped(latex: str) -> str:
    r"""``W^{(2)}`` for the document's ``{W^{(2)}}`` (braced there so that a transpose can follow it)."""
    if latex.startswith("{") and latex.endswith("}") and balanced(latex[1:-1]):
        return latex[1:-1]
    return latex


def balanced(text: str) -> bool:
    """Every brace of ``text`` closes within it (``a}{b`` does not)."""
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


@argument_symbols.register
def _(program: IndexProgram, latex_names: dict) -> dict[str, str]:
    return {a.name: a.tex for a in program.arguments}
