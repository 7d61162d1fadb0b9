"""A derivation: a model, its derived backward program, a document explaining it, an exported module,
and the checks that verify it.

One type for both levels. What every derivation has (its name, title and summary in English and
Korean, the functions that build its document and notes pages, a torch reference, extra checks) is a
field of :class:`Derivation`; what depends on the level (the model, reverse mode, the exported module,
the level's part of the verification) is its ``engine``: a
:class:`~symderive.matrix.engine.MatrixEngine` (dense layers, recurrent cells) or an
:class:`~symderive.index.engine.IndexEngine` (convolution, pooling).

A model of one's own (a :class:`symderive.Model`, or its ``Program``) needs nothing else::

    d = derive(model)   # named after the model, the generic document, default sizes, torch autograd as reference
    d.to_latex("markdown"); d.export("grad.py"); d.verify()

Without ``build_document`` the document is the generic one (:mod:`symderive.document.generic`: the
model, the adjoints node by node, for recurrent models the adjoint recurrence and the product of state
Jacobians, the gradients); without sizes the checks run at
:func:`~symderive.matrix.engine.default_sizes`.
"""
from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

from symderive.document.document import FORMATS, Document
from symderive.document.generic import generic_document
from symderive.errors import OptionError
from symderive.export.backends import backend_source
from symderive.export.files import write_atomically
from symderive.export.scaffold import add_symbols
from symderive.export.symbols import argument_symbols
from symderive.index.engine import Cases
from symderive.index.program import IndexProgram
from symderive.matrix.engine import MatrixEngine, Sizes
from symderive.matrix.sections import printed_layout, written_in_rows
from symderive.model.builder import Model
from symderive.model.program import Program
from symderive.options import RenderOptions, render_options
from symderive.user_model import DEFAULT_NAME, index_fields, is_index_level, judge, read_user_model
from symderive.verify.autograd import PrintedProgram
from symderive.verify.harness import verify
from symderive.verify.report import Report


class Engine(Protocol):
    """What a level supplies to a Derivation: its ``variants`` (``(tag, program)``; one at matrix
    level), whether it is ``recurrent``, the ``sizes`` its checks run at, the values whose adjoints
    documents ``keep`` by name and the ``latex_names`` of identifiers; reverse mode, the exported
    module and a generic document; and its part of :func:`symderive.verify.harness.verify`."""

    variants: tuple
    recurrent: bool
    sizes: object
    keep: frozenset
    latex_names: dict

    def derive(self, program): ...

    def module_source(self, d: Derivation) -> str: ...

    def generic_document(self, d: Derivation, options: RenderOptions) -> Document: ...

    def prove(self, program, backward) -> tuple[dict, str]: ...

    def cases(self, program, tag: str) -> list: ...

    def interpreted(self, program, backward, case) -> dict: ...

    def level_rows(self, d: Derivation, module, arrays: dict) -> list: ...

    def sizes_note(self, hows: list[str]) -> str: ...


@dataclass(frozen=True)
class Derivation:
    """A model (through its ``engine``) and what is said about it. ``build_document(d, options)``
    gives its Document (default: the engine's generic one), ``build_pages(d, options)`` its notes
    pages as ``(slug, document)`` (default: one page, the document); ``torch_reference`` gives
    gradients by torch autograd (matrix level: ``(arrays)``; index level: ``(arrays, options, tag)``);
    each of ``extra_checks`` is called as ``check(d, arrays)`` and returns a report row;
    ``judge_claims(claims, where)`` judges claims about it (default: against the derivation itself)."""

    name: str
    engine: Engine
    title: str = ""  # default: the name
    summary: str = ""
    title_ko: str = ""
    summary_ko: str = ""
    build_document: Callable[[Derivation, RenderOptions], Document] | None = None
    build_pages: Callable | None = None
    torch_reference: Callable | None = None
    extra_checks: tuple = ()
    judge_claims: Callable | None = None

    def __post_init__(self):
        if not self.title:
            object.__setattr__(self, "title", self.name)

    @cached_property
    def backwards(self) -> dict:
        """The derived backward program of every variant, by tag."""
        return {tag: self.engine.derive(program) for tag, program in self.engine.variants}

    @property
    def variants(self) -> tuple:
        return self.engine.variants

    @property
    def program(self):
        """The model (the first variant's program)."""
        return self.variants[0][1]

    @property
    def backward(self):
        return self.backwards[self.variants[0][0]]

    @property
    def recurrent(self) -> bool:
        return self.engine.recurrent

    @property
    def sizes(self):
        """Where the checks run (``Sizes`` at matrix level, ``Cases`` at index level)."""
        return self.engine.sizes

    @property
    def keep(self) -> frozenset:
        return self.engine.keep

    @property
    def latex_names(self) -> dict:
        return self.engine.latex_names

    def heading(self, options) -> tuple[str, str]:
        """The title and summary in the language of ``options``."""
        if options.lang == "ko":
            return self.title_ko or self.title, self.summary_ko or self.summary
        return self.title, self.summary

    def settings(self, options: dict) -> RenderOptions:
        """``RenderOptions`` of ``options``, the layout as the printers take it. ``layout`` names the convention
        the formulas are printed in (default: the model's own). The printers' "row" writes a column model in
        rows; a model written in rows is printed as written by "column", so for it the two are swapped."""
        rows = hasattr(self.program, "assignments") and written_in_rows(self.program)
        settings = render_options({**options, "layout": options.get("layout") or ("row" if rows else "column")})
        return printed_layout(self.program, settings) if rows else settings  # the swap is printed_layout's

    def document(self, **options) -> Document:
        """The derivation as a document; ``options`` are the fields of ``RenderOptions``."""
        settings = self.settings(options)
        if settings.truncate is not None and not self.recurrent:
            raise OptionError(f"truncate applies to recurrent models; {self.name} is not recurrent")
        build = self.build_document or generic_document
        return build(self, settings)

    def pages(self, **options) -> tuple[tuple[str, Document], ...]:
        """The derivation as notes pages, ``(slug, document)`` in teaching order: one page, or the
        derivation's own split (the RNN: model, BPTT, truncated BPTT)."""
        if self.build_pages is None:
            return ((self.name, self.document(**options)),)
        return tuple(self.build_pages(self, self.settings(options)))

    def to_latex(self, fmt: str = "latex", **options) -> str:
        """The derivation as a LaTeX fragment, Markdown (``fmt="markdown"``) or a .tex document."""
        if fmt not in FORMATS:
            raise OptionError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
        return self.document(**options).render(fmt, self.settings(options).lang)

    def _repr_latex_(self) -> str:
        doc = self.document()
        rows = [rf"\text{{{s.title}}} & \\" + "\n" + " \\\\\n".join(f"{st.lhs} &= {st.rhs}" for st in s.steps)
                for s in doc.sections if s.steps]
        return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"

    def module_source(self, backend: str = "numpy") -> str:
        """The exported module: ``SHAPES``, ``SYMBOLS`` (each argument's LaTeX), ``forward``, ``loss``,
        ``grad`` (any size); NumPy only, or with ``backend="numba"`` its loops over time compiled."""
        numpy = add_symbols(self.engine.module_source(self), argument_symbols(self.program, self.latex_names))
        return backend_source(numpy, backend)

    def load_module(self, backend: str = "numpy") -> types.ModuleType:
        """The exported module, loaded without writing a file."""
        module = types.ModuleType(f"symderive_generated_{self.name}")
        exec(compile(self.module_source(backend), module.__name__, "exec"), module.__dict__)  # our own generated code
        return module

    def export(self, path, force: bool = False, backend: str = "numpy") -> Path:
        """Write the module to ``path`` atomically; an existing file needs ``force``."""
        return write_atomically(Path(path), self.module_source(backend), force)

    def verify(self) -> Report:
        """Every gradient checked three ways (see :mod:`symderive.verify.harness`)."""
        return verify(self)

    def check(self, claims, where=()) -> list:
        r"""Judge hand-derived ``claims`` (``\frac{\partial L}{\partial W} = ...``) against this model, one
        :class:`~symderive.judge.check.ClaimResult` each; ``where`` adds definitions the claims use."""
        if self.judge_claims is not None:
            return self.judge_claims(claims, where)
        return judge(claims, where, derivation=self)


def derive(model: Model | Program | IndexProgram | str | Sequence[str], *, where: str | Sequence[str] = (),
           shapes: Mapping[str, object] | Sequence[str] | None = None, sizes: Sizes | Cases | None = None,
           keep: frozenset | None = None, module_extras: str = "", ranges: str | Sequence[str] = (),
           **fields: object) -> Derivation:
    r"""The derivation of a matrix-level model: a :class:`symderive.Model`, its ``Program``, or forward
    equations in LaTeX (a list, or one string with ``;`` or ``\\`` between them; the last defines the loss).

    It renders (``to_latex``, every format and notation option), exports a NumPy module (``export``),
    verifies every gradient three ways (``verify``: symbolic at ``sizes.small``, central differences at
    ``sizes.numeric``, and torch's autograd of the model's own equations where torch is installed) and judges
    claims (``check``). A LaTeX model takes ``shapes`` (``{"W": "n x d", "w": 1}``) and definitions ``where``
    (``\delta_t = \frac{\partial L}{\partial h_t}`` names an adjoint; see :mod:`symderive.user_model`), and
    is named ``name`` (default "model").
    An index-level model (an :class:`~symderive.index.program.IndexProgram`, or LaTeX written entry by entry,
    ``Y_{c,i,j} = \sum_{p,q} W_{c,p,q} X_{c, 2i+p-1, 2j+q-1}``, with ``ranges`` such as ``'i: 0..N-1'``) gets
    the generic index document, an einsum export and a torch program printed from it as the reference
    (:func:`symderive.user_model.index_fields`); its ``sizes`` are :class:`~symderive.index.engine.Cases`.
    ``sizes`` default to :func:`~symderive.matrix.engine.default_sizes`; ``keep`` names the values whose
    adjoints the document keeps by name (default: the states); ``fields`` are :class:`Derivation`'s
    (``title``, ``summary``, ``build_document``, ``extra_checks``, ``torch_reference``, ...).
    """
    if is_index_level(model):
        if keep is not None or module_extras:
            raise OptionError("keep and module_extras belong to a matrix-level model")
        return Derivation(**index_fields(model, where, shapes, ranges, sizes, fields))
    if ranges:
        raise OptionError("ranges belong to an index-level model (written entry by entry, Y_{o,i,j} = ...)")
    if isinstance(model, (Model, Program)):
        if where or shapes:
            raise OptionError("where and shapes belong to a model written in LaTeX; a Model has its own")
        program = model if isinstance(model, Program) else model.program()
    else:
        user = read_user_model(model, where, shapes, fields.pop("name", DEFAULT_NAME))
        program = user.program
        fields.setdefault("judge_claims", user.judge_claims)
    fields.setdefault("torch_reference", PrintedProgram(program))
    engine = MatrixEngine(program, sizes, keep, module_extras)
    return Derivation(name=fields.pop("name", program.name), engine=engine, **fields)
