"""The matrix-level engine of a :class:`~symderive.pipeline.Derivation`: a ``Program`` over
shape-generic matrices (dense layers, recurrent cells), its reverse mode, its exported module, its
generic document and its part of the verification."""
from __future__ import annotations

from dataclasses import dataclass

from symderive.document.document import Document
from symderive.matrix.derive import Backward, derive
from symderive.matrix.module_code import module_source
from symderive.matrix.sections import adjoint_section, gradients_section, model_section, truncation_section
from symderive.model.program import Program
from symderive.ops.nodes import T
from symderive.verify.harness import Case, sizes_text
from symderive.verify.matrix_checks import (
    large_rows,
    random_arguments,
    reference_gradient,
    size_keywords,
    size_options,
    truncation_rows,
)
from symderive.verify.symbolic import symbolic_proof


@dataclass(frozen=True)
class Sizes:
    """Sizes for the three checks: symbolic (small), central differences, random directions (large)."""

    small: dict
    numeric: dict
    large: dict


def default_sizes(program: Program) -> Sizes:
    """Every size 2, 6 and 48 (a sequence: T = 3, 8 and 24), for a model that states none."""
    def at(size: int, steps: int) -> dict:
        return {**{s: size for s in program.dims()}, **({T: steps} if program.recurrent else {})}

    return Sizes(small=at(2, 3), numeric=at(6, 8), large=at(48, 24))


@dataclass(frozen=True)
class MatrixEngine:
    """A matrix-level model: the ``program``, the ``sizes`` its checks run at (default:
    :func:`default_sizes`), the values whose adjoints the documents ``keep`` by name instead of
    inlining them (default: the states, whose adjoints are the BPTT recurrence), and source appended
    to the exported module (``module_extras``)."""

    program: Program
    sizes: Sizes | None = None
    keep: frozenset | None = None
    module_extras: str = ""

    def __post_init__(self):
        if self.sizes is None:
            object.__setattr__(self, "sizes", default_sizes(self.program))
        if self.keep is None:
            object.__setattr__(self, "keep", frozenset(self.program.states))

    @property
    def variants(self) -> tuple:
        return ((self.program.name, self.program),)

    @property
    def recurrent(self) -> bool:
        return self.program.recurrent

    @property
    def options(self) -> tuple:
        """The keywords that set a size no argument has (``heads``): required in every call."""
        return size_options(self.program)

    @property
    def latex_names(self) -> dict:
        return self.program.latex_names

    def derive(self, program: Program) -> Backward:
        return derive(program)

    def generic_document(self, d, options) -> Document:
        """The model, the adjoints node by node and the gradients: a document without prose of its own."""
        sections = (model_section(d, options), adjoint_section(d, options), gradients_section(d, options),
                    *((truncation_section(options),) if self.recurrent else ()))
        return Document(*d.heading(options), sections, tags=("deep-learning", "backpropagation"))

    def module_source(self, d) -> str:
        return module_source(self.program, d.backward, module_docstring(d)) + self.module_extras

    # The matrix level's part of the verification (see symderive.verify.harness).

    def prove(self, program: Program, backward: Backward) -> tuple[dict, str]:
        return symbolic_proof(program, backward, self.sizes.small)

    def cases(self, program: Program, tag: str) -> list[Case]:
        arrays = random_arguments(program, self.sizes.numeric)
        return [Case(arrays, size_keywords(program, self.sizes.numeric), self.sizes.numeric, "", (arrays,))]

    def interpreted(self, program: Program, backward: Backward, case: Case) -> dict:
        return reference_gradient(program, backward, case.arrays, sizes=case.sizes)

    def level_rows(self, d, module, arrays: dict) -> list:
        """Truncated BPTT (recurrent models), then random directions at the large size."""
        rows = truncation_rows(self.program, d.backward, self.sizes.small, module, arrays) if self.recurrent else []
        return rows + large_rows(self.program, self.sizes.large, module)

    def sizes_note(self, hows: list[str]) -> str:
        small, numeric, large = (sizes_text(s) or "scalar sizes" for s in
                                 (self.sizes.small, self.sizes.numeric, self.sizes.large))
        return (f"symbolic: scalar chain rule with sympy.diff at {small}, decided {hows[0]}; "
                f"numeric: central differences at {numeric} (float64); large: random directions at {large}")


def module_docstring(d) -> str:
    """The exported module's docstring: the model and the gradients in LaTeX, as the document writes them."""
    doc = d.document()
    equations = "\n".join(f"    {st.lhs} = {st.rhs}" for s in doc.sections[:1] for st in s.steps)
    gradients = "\n".join(f"    {st.lhs} = {st.rhs}" for s in doc.sections for st in s.steps
                          if st.lhs.startswith(r"\frac{\partial L}"))
    return (f"{d.title}: forward pass, loss and gradients, generated by symderive from the derived\n"
            f"expressions (NumPy only; works at any size).\n\nModel (LaTeX):\n{equations}\n\n"
            f"Gradients (LaTeX):\n{gradients}\n\nArrays: see SHAPES (sequences are stacked as rows, step 1 first).\n")
