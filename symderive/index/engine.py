"""The index-level engine of a :class:`~symderive.pipeline.Derivation` (convolution, pooling, CNN):
one or more variants of an index program, the keyword options of the exported module, its derived
sizes, and its part of the verification."""
from __future__ import annotations

from dataclasses import dataclass

from symderive.document.document import Document
from symderive.index.codegen import module_source
from symderive.index.derive import IndexBackward, derive
from symderive.index.document import index_document
from symderive.index.program import IndexProgram
from symderive.verify.harness import Case, sizes_text
from symderive.verify.index_checks import (
    case_label,
    case_options,
    case_sizes,
    index_arguments,
    index_symbolic_check,
    interpreted_gradients,
)


@dataclass(frozen=True)
class Cases:
    """Where the checks run: ``symbolic`` and ``numeric`` cases, each a dict of size symbols and
    option symbols (stride, padding, ...) to ints."""

    symbolic: tuple
    numeric: tuple


@dataclass(frozen=True)
class IndexEngine:
    """An index-level model: ``variants`` (``(tag, program)`` over the same arguments, e.g. max and
    average pooling, selected by ``variant_keyword`` in the exported module), keyword ``options``
    (stride, padding, ...), ``derived`` sizes (output sizes), the arrays' ``shapes`` (argument -> size
    names), the ``sizes`` (:class:`Cases`) the checks run at, the exported module's ``module_doc``, and
    whether the symbolic point has positive entries (``symbolic_positive``: no relu kinks, no ties of
    zeros)."""

    variants: tuple
    options: tuple
    derived: tuple
    shapes: dict
    sizes: Cases
    variant_keyword: str = ""
    module_doc: str = ""
    symbolic_positive: bool = False

    recurrent = False
    keep = frozenset()  # the index-level documents name every adjoint tensor themselves

    @property
    def latex_names(self) -> dict:
        return {}  # each Tensor spells its own name (Tensor.latex)

    def derive(self, program: IndexProgram) -> IndexBackward:
        return derive(program)

    def generic_document(self, d, options) -> Document:
        """The model and the adjoint of every value and argument (:func:`symderive.index.document.index_document`)."""
        return index_document(d, options)

    def module_source(self, d) -> str:
        variants = [(tag, p, d.backwards[tag]) for tag, p in self.variants]
        return module_source(variants, f"{d.title}\n\n{self.module_doc}", self.options, self.derived, self.shapes,
                             self.variant_keyword)

    # The index level's part of the verification (see symderive.verify.harness).

    def prove(self, program: IndexProgram, backward: IndexBackward) -> tuple[dict, str]:
        """The symbolic check at every symbolic case: an argument passes if it passes at all of them."""
        results = [index_symbolic_check(program, backward, case_sizes(case, self.derived), self.symbolic_positive)
                   for case in self.sizes.symbolic]
        decided = "exact (to 50 digits where exp and log appear)"
        return {t.name: all(r[t.name] for r in results) for t in program.differentiated}, decided

    def cases(self, program: IndexProgram, tag: str) -> list[Case]:
        out = []
        for k, case in enumerate(self.sizes.numeric):
            sizes = case_sizes(case, self.derived)
            options = case_options(case, self.options)
            if len(self.variants) > 1:
                options[self.variant_keyword] = tag
            arrays = index_arguments(program, sizes, seed=k)
            label = f" ({case_label(case, self.options)})" if self.options else ""
            out.append(Case(arrays, options, sizes, label, (arrays, options, tag)))
        return out

    def interpreted(self, program: IndexProgram, backward: IndexBackward, case: Case) -> dict:
        return interpreted_gradients(program, backward, case.arrays, case.sizes)

    def level_rows(self, d, module, arrays: dict) -> list:
        return []

    def sizes_note(self, hows: list[str]) -> str:
        return ("symbolic: sympy.diff of the explicit instantiation against the derived index formulas at "
                + "; ".join(map(sizes_text, self.sizes.symbolic))
                + "; numeric: central differences of the exported loss, and the derived formulas by the naive "
                  "interpreter, at " + "; ".join(map(sizes_text, self.sizes.numeric)))
