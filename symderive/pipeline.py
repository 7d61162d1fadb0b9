"""A derivation: a model, its derived backward program, a document explaining it, an exported module,
and the checks that verify it.
"""
from __future__ import annotations

import os
import tempfile
import types
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from . import verify as vf
from .codegen import module_source
from .derive import Backward, derive
from .document import FORMATS, Document
from .errors import ExportError, OptionError
from .model import Program


LANGUAGES = ("en", "ko")
INDEX_BASES = (0, 1)


@dataclass(frozen=True)
class RenderOptions:
    """Notation and content settings of a rendered derivation: ``bold`` vectors and matrices, the
    ``layout`` of vectors ("column": ``W_{hh} h_{t-1}``, or "row": ``h_{t-1} W_{hh}``), the
    ``index_base`` of convolution indices (0 or 1), the ``lang`` of the prose ("en" or "ko"; the
    math is the same), and truncated BPTT after ``truncate`` steps."""

    bold: bool = False
    truncate: int | None = None
    truncate_mode: str = "blocks"
    layout: str = "column"
    index_base: int = 0
    lang: str = "en"

    def __post_init__(self):
        from .render import LAYOUTS

        if self.layout not in LAYOUTS:
            raise OptionError(f"--layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.index_base not in INDEX_BASES or isinstance(self.index_base, bool):
            raise OptionError(f"--index-base must be 0 or 1, not {self.index_base!r}")
        if self.lang not in LANGUAGES:
            raise OptionError(f"--lang must be one of {', '.join(LANGUAGES)}, not {self.lang!r}")
        if self.truncate is not None and (isinstance(self.truncate, bool) or not isinstance(self.truncate, int)
                                          or self.truncate < 1):
            raise OptionError(f"--truncate must be a positive integer (the number of steps K), not {self.truncate!r}")
        if self.truncate_mode not in ("blocks", "window"):
            raise OptionError(f"--truncate-mode must be 'blocks' or 'window', not {self.truncate_mode!r}")


def render_options(options: dict) -> RenderOptions:
    """``RenderOptions`` from keyword options; an unknown name is an error that lists the known ones."""
    unknown = set(options) - set(RenderOptions.__dataclass_fields__)
    if unknown:
        raise OptionError(f"unknown render option(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(RenderOptions.__dataclass_fields__)}")
    return RenderOptions(**options)


@dataclass(frozen=True)
class Sizes:
    """Sizes for the three checks: symbolic (small), central differences, random directions (large)."""

    small: dict
    numeric: dict
    large: dict


class Exportable:
    """What every derivation offers on top of ``document``, ``module_source`` and ``verify``."""

    recurrent = False

    def heading(self, options) -> tuple[str, str]:
        """The title and summary in the language of ``options``."""
        if options.lang == "ko":
            return self.title_ko or self.title, self.summary_ko or self.summary
        return self.title, self.summary

    def document(self, **options) -> Document:
        """The derivation as a document; ``options`` are the fields of ``RenderOptions``."""
        return self.build_document(self, render_options(options))

    def pages(self, **options) -> tuple[tuple[str, Document], ...]:
        """The derivation as notes pages, ``(slug, document)`` in teaching order: one page, or the
        derivation's own split (the RNN: model, BPTT, truncated BPTT)."""
        settings = render_options(options)
        if self.build_pages is None:
            return ((self.name, self.build_document(self, settings)),)
        return tuple(self.build_pages(self, settings))

    def to_latex(self, fmt: str = "latex", **options) -> str:
        """The derivation as a LaTeX fragment, Markdown (``fmt="markdown"``) or a .tex document."""
        if fmt not in FORMATS:
            raise OptionError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
        return self.document(**options).render(fmt, render_options(options).lang)

    def _repr_latex_(self) -> str:
        doc = self.document()
        rows = [rf"\text{{{s.title}}} & \\" + "\n" + " \\\\\n".join(f"{st.lhs} &= {st.rhs}" for st in s.steps)
                for s in doc.sections if s.steps]
        return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"

    def load_module(self) -> types.ModuleType:
        """The exported module, loaded without writing a file."""
        module = types.ModuleType(f"symderive_generated_{self.name}")
        exec(compile(self.module_source(), module.__name__, "exec"), module.__dict__)  # our own generated code
        return module

    def export(self, path, force: bool = False) -> Path:
        """Write the module to ``path`` atomically; an existing file needs ``force``."""
        return write_atomically(Path(path), self.module_source(), force)


@dataclass
class Derivation(Exportable):
    name: str
    title: str
    summary: str
    program: Program
    build_document: Callable[["Derivation", RenderOptions], Document]
    sizes: Sizes
    keep: frozenset = frozenset()
    extra_checks: tuple = ()
    torch_reference: Callable | None = None
    module_extras: str = ""
    notes: tuple[str, ...] = field(default=())
    title_ko: str = ""
    summary_ko: str = ""
    build_pages: Callable | None = None

    @cached_property
    def backward(self) -> Backward:
        return derive(self.program)

    @property
    def recurrent(self) -> bool:
        return self.program.recurrent

    @property
    def latex_names(self) -> dict:
        return self.program.latex_names

    def module_source(self) -> str:
        doc = self.document()
        equations = "\n".join(f"    {st.lhs} = {st.rhs}" for s in doc.sections[:1] for st in s.steps)
        gradients = "\n".join(f"    {st.lhs} = {st.rhs}" for s in doc.sections for st in s.steps
                              if st.lhs.startswith(r"\frac{\partial L}"))
        text = (f"{self.title}: forward pass, loss and gradients, generated by symderive from the derived\n"
                f"expressions (NumPy only; works at any size).\n\nModel (LaTeX):\n{equations}\n\n"
                f"Gradients (LaTeX):\n{gradients}\n\nArrays: see SHAPES (sequences are stacked as rows, step 1 first).\n")
        return module_source(self.program, self.backward, text) + self.module_extras

    def verify(self) -> vf.Report:
        return vf.verify_derivation(self)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text: str, force: bool) -> Path:
    """Write through a temporary file in the same folder and rename it: never a half-written file."""
    if path.exists() and not force:
        raise ExportError(f"{path} exists; pass --force (force=True) to overwrite it")
    if path.is_dir():
        raise ExportError(f"{path} is a directory")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {e.strerror}") from None
    return path



@dataclass
class IndexDerivation(Exportable):
    """A derivation at index level (convolution, pooling): one or more variants (``(tag, program)``,
    e.g. max and average pooling, selected by ``variant_keyword`` in the exported module), keyword
    options (stride, padding, ...), derived sizes, and the cases the checks run at (each a dict of
    size symbols and option symbols to ints)."""

    name: str
    title: str
    summary: str
    variants: tuple
    build_document: Callable
    options: tuple
    derived: tuple
    shapes: dict
    symbolic_cases: tuple
    numeric_cases: tuple
    variant_keyword: str = ""
    torch_reference: Callable | None = None
    extra_checks: tuple = ()
    module_doc: str = ""
    symbolic_positive: bool = False  # the symbolic point has positive entries (no relu kinks, no ties of zeros)
    title_ko: str = ""
    summary_ko: str = ""
    build_pages: Callable | None = None

    @property
    def program(self):
        return self.variants[0][1]

    @cached_property
    def backwards(self) -> dict:
        from .indexed import derive as derive_index

        return {tag: derive_index(p) for tag, p in self.variants}

    @property
    def backward(self):
        return self.backwards[self.variants[0][0]]

    def module_source(self) -> str:
        from .index_codegen import module_source as index_module_source

        variants = [(tag, p, self.backwards[tag]) for tag, p in self.variants]
        return index_module_source(variants, f"{self.title}\n\n{self.module_doc}", self.options, self.derived,
                                   self.shapes, self.variant_keyword)

    def verify(self) -> vf.Report:
        return vf.verify_index_derivation(self)
