r"""The judge of a notes file's model: the matrix-level checker for a model the model language reads (as
``check --model ... --where ... --shape ...`` builds one), or the checker of :mod:`symderive.judge.abstract`
for a model of abstract functions. Both take a claim's LaTeX as the file writes it (``w_\textrm{h}`` read as
``w_{h}``) and give a :class:`~symderive.judge.check.ClaimResult`."""
from __future__ import annotations

import re

import numpy as np
import sympy as sp

from symderive.errors import ModelError, SymderiveError
from symderive.judge.abstract import bptt_formula, judge_abstract
from symderive.judge.check import ClaimResult, Judge
from symderive.judge.compare import read_claim
from symderive.judge.diagnose import correct_formula
from symderive.judge.index_judge import judge_index, read_index_where
from symderive.judge.index_subject import subject_of_index_model
from symderive.judge.notes_ranges import inferred_ranges
from symderive.judge.subject import read_where, subject_of_latex
from symderive.latex.index_model import build_index_model
from symderive.latex.names import base_name, is_variable
from symderive.latex.notes_file import readable, top_level_parts
from symderive.latex.parsed import partial
from symderive.latex.reader import parse_sides
from symderive.latex.shapes import split_declaration


class MatrixJudge:
    """Claims about a model the model language reads, judged as ``check --model`` judges them."""

    def __init__(self, model):
        texts = [readable(t) for t in model.texts]
        subject = subject_of_latex(texts, declared_shapes(model))
        for d in model.definitions:
            try:
                read_where(subject, [readable(f"{d.equation.sides[0].text} = {d.equation.sides[1].text}")])
            except SymderiveError as e:
                model.refused[d.equation.line] = f"the model cannot take this definition: {e}"
        self.subject, self.judge_ = subject, Judge(subject)
        self.names = adjoint_names(model.definitions)

    def judge(self, text: str) -> ClaimResult:
        """The verdict, with the engine's formula for a wrong claim also where a product that does not multiply
        named the mistake (the checker gives the formula only after comparing values)."""
        result = self.judge_.judge(readable(text))
        if result.verdict == "not_equal" and not result.correct:
            try:
                result.correct = correct_formula(read_claim(readable(text), self.subject), self.subject)
            except SymderiveError:
                pass
        result.correct = named_adjoints(result.correct, self.names)
        return result


class AbstractJudge:
    """Claims about a model of abstract functions (``h_t = f(x_t, h_{t-1}, w_h)``), for every f."""

    def __init__(self, model):
        self.model = model.abstract_model()
        self.where = {}
        for d in model.definitions:
            lhs, rhs = d.sides[0], d.sides[1]
            self.where[base_name(lhs)] = (tuple(lhs.indices) if isinstance(lhs, sp.Indexed) else (), rhs)

    def judge(self, text: str) -> ClaimResult:
        try:
            sides = [self.defined(side) for side in parse_sides(readable(text))]
            if len(sides) != 2:
                raise ModelError(f"a claim is 'DERIVATIVE = EXPRESSION': {text}")
            with np.errstate(all="ignore"):
                holds, diagnosis = judge_abstract(self.model, *sides)
        except (SymderiveError, ZeroDivisionError, OverflowError, ValueError) as e:
            return ClaimResult(text, "error", str(e))
        method = "numeric, float64, for generic smooth functions at three instances, T = 4"
        correct = "" if holds else bptt_formula(self.model, sides[0])
        return ClaimResult(text, "equal" if holds else "not_equal", diagnosis, method=method, compared=1,
                           correct=correct)

    def defined(self, side):
        """``side`` with every name defined as a derivative (``\\delta_t``) replaced by that derivative."""
        replace = {}
        for e in side.atoms(sp.Indexed, sp.Symbol):
            if is_variable(e) and base_name(e) in self.where:
                variables, definition = self.where[base_name(e)]
                indices = e.indices if isinstance(e, sp.Indexed) else ()
                if len(indices) == len(variables):
                    replace[e] = definition.xreplace(dict(zip(variables, indices)))
        return side.xreplace(replace)


class IndexJudge:
    r"""Claims about a model written entry by entry (a convolution), judged as ``check --model`` judges them.

    A definition of a two-index ``\delta_{i,j}`` (notes' name for ``\partial L / \partial Y_{i,j}``) would read as
    Kronecker's delta, so in this model's texts ``\delta`` is spelt ``\delta^{\ast}`` and spelt back in a
    corrected formula."""

    def __init__(self, model):
        self.spell = {"delta"} & {base_name(d.sides[0]) for d in model.definitions
                                  if isinstance(d.sides[0], sp.Indexed) and len(d.sides[0].indices) == 2}
        texts, shapes = [self.spelt(t) for t in model.texts], declared_shapes(model)
        try:
            read = build_index_model(texts, shapes, model.ranges or None)
        except ModelError as e:  # a range the notes leave unsaid: inferred from an annotated input's shape
            ranges, shapes = inferred_ranges(texts, shapes, model.ranges)
            if "range of the index" not in str(e) or ranges == list(model.ranges):
                raise
            read = build_index_model(texts, shapes, ranges)
        self.subjects = [subject_of_index_model(read)]
        read_index_where(self.subjects[0], [self.spelt(d.equation.sides[0].text + " = " + d.equation.sides[1].text)
                                            for d in model.definitions])

    def spelt(self, text: str) -> str:
        return re.sub(r"\\delta(?![A-Za-z])", r"\\delta^{\\ast}", readable(text)) if self.spell else readable(text)

    def judge(self, text: str) -> ClaimResult:
        try:
            result = judge_index(self.subjects, self.spelt(text))
        except (AttributeError, TypeError, ValueError, IndexError) as e:  # a claim the index checker trips on
            return ClaimResult(text, "error", f"the index-level checker failed on this claim ({type(e).__name__}: "
                                              f"{e}); please report it")
        result.claim = text
        if self.spell:
            result.correct = re.sub(r"\\delta\s*[\^_]\s*\{?\s*(?:\\ast|\*)\s*\}?", r"\\delta", result.correct or "")
        if result.correct:  # the index checker writes the whole claim; the notes' correction is its right side
            result.correct = top_level_parts(result.correct, "=")[-1][1].strip()
        return result


def adjoint_names(definitions) -> dict:
    r"""``{"h": r"\delta"}`` for each definition ``\delta_t = \frac{\partial L}{\partial h_t}`` of the notes: the
    name the notes give the adjoint the engine writes ``\bar{h}``."""
    names = {}
    for d in definitions:
        lhs, rhs = d.sides
        if isinstance(rhs, partial) and is_variable(rhs.args[1]):
            names[base_name(rhs.args[1])] = re.sub(r"_(\{[^{}]*\}|\w)$", "", d.equation.sides[0].text.strip())
    return names


def named_adjoints(latex: str, names: dict) -> str:
    r"""``latex`` with ``\bar{h}`` (also ``\bar{\mathbf{H}}``) written as the notes name it (``\delta``)."""
    def name(match):
        plain = re.sub(r"\\(?:mathbf|boldsymbol|bm)\s*|[{}\s]", "", match.group(1))
        return names.get(plain, match.group(0))
    return re.sub(r"\\bar\{((?:[^{}]|\{[^{}]*\})*)\}", name, latex) if latex and names else latex


def judge_of(model):
    """The judge of ``model`` (built once, kept on the model)."""
    if model.judge is None:
        kind = IndexJudge if model.index_level else AbstractJudge if model.abstract else MatrixJudge
        model.judge = kind(model)
    return model.judge


def declared_shapes(model) -> list[str]:
    """The file's shape annotations for the symbols of ``model`` (the builder refuses a shape it does not use)."""
    chosen = []
    for text in model.shapes:
        name, _ = split_declaration(readable(text))
        if name in model.names:
            chosen.append(readable(text))
    return chosen
