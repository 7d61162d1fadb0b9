"""A notes site: one Markdown page per derivation (Jekyll front matter, ``use_math: true``), an index
in teaching order, the gradient-flow figure with its data, and one standalone ``notes.tex``.

Teaching order: dense -> conv1d -> conv2d -> pooling -> CNN -> RNN -> BPTT -> truncated BPTT ->
LSTM -> GRU -> gradient flow. The order of ``derivations.REGISTRY`` is that order; the RNN
derivation splits itself into three pages (``rnn``, ``bptt``, ``truncated-bptt``) and the flow page
comes last.

Writing is all or nothing: every file, the figure too, is rendered in memory before the first one
is written, an existing file is replaced only with ``force``, and the files are staged in the
folder and renamed into place together (:func:`symderive.export.files.write_files`: two runs into
one folder take turns, an interrupted run leaves every file or none).
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from symderive.derivations import REGISTRY, derivation
from symderive.document import flow, flow_page
from symderive.document.document import Document, front_matter, latex_section, markdown_prose, preamble
from symderive.document.prose import say
from symderive.errors import ExportError, OptionError
from symderive.export.files import refuse_targets, write_files
from symderive.options import RenderOptions

FLOW = "flow"
FIGURE = "gradient-flow.png"


@dataclass(frozen=True)
class Page:
    slug: str
    document: Document


class Progress:
    """A line per item on standard error, once the job has run for more than ``after`` seconds."""

    def __init__(self, total: int, stream=None, after: float = 1.0):
        self.total, self.stream, self.after = total, stream or sys.stderr, after
        self.start, self.done = time.perf_counter(), 0

    def step(self, label: str) -> None:
        self.done += 1
        if time.perf_counter() - self.start > self.after:
            print(f"[{self.done}/{self.total}] {label}", file=self.stream, flush=True)


def slugs_by_source() -> dict[str, tuple[str, ...]]:
    """The page slugs of each derivation (its ``PAGES``, or its name) and of the flow page, in
    teaching order."""
    return {**{name: getattr(module, "PAGES", (name,)) for name, module in REGISTRY.items()}, FLOW: (FLOW,)}


def page_names() -> list[str]:
    """Every page slug ``--only`` accepts (a derivation's name among them), in teaching order."""
    return [slug for slugs in slugs_by_source().values() for slug in slugs]


def selected(only) -> tuple[list[str], set[str] | None]:
    """The derivations to render and the page slugs to keep (None: all of their pages). A
    derivation's name keeps all of its pages (``rnn``: rnn, bptt, truncated-bptt)."""
    known, by_source = page_names(), slugs_by_source()
    unknown = [n for n in only or () if n not in known]
    if unknown:
        raise OptionError(f"unknown page(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if not only:
        return list(by_source), None
    slugs = set(only).union(*(by_source[n] for n in only if n in by_source))
    return [n for n, pages in by_source.items() if slugs & set(pages)], slugs


def derivation_pages(name: str, options: RenderOptions) -> list[Page]:
    return [Page(slug, doc) for slug, doc in derivation(name).pages(**asdict(options))]


def navigation(pages: list[Page], k: int, options: RenderOptions) -> str:
    """``← previous · index · next →`` links between neighbouring pages."""
    links = []
    if k > 0:
        links.append(f"[← {pages[k - 1].document.title}]({pages[k - 1].slug}.md)")
    links.append(f"[{say(options, 'Contents', '목차')}](index.md)")
    if k + 1 < len(pages):
        links.append(f"[{pages[k + 1].document.title} →]({pages[k + 1].slug}.md)")
    return " · ".join(links)


def page_markdown(pages: list[Page], k: int, options: RenderOptions, extra: str = "") -> str:
    footer = ([extra, ""] if extra else []) + ["---", "", navigation(pages, k, options)]
    return pages[k].document.markdown(options.lang, tuple(footer))


def index_markdown(pages: list[Page], options: RenderOptions) -> str:
    title = say(options, "Backpropagation, derived: notes on CNNs and RNNs", "역전파 유도 노트: CNN과 RNN")
    intro = say(options,
                "Each page derives the gradients of one model step by step, with the reason for every step. Every "
                "formula was derived by symderive and checked numerically (central differences, random directions "
                "and an exact symbolic comparison) before it was written here. Read them in this order:",
                "각 페이지는 모델 하나의 기울기를 한 단계씩, 단계마다 이유를 붙여 유도합니다. 모든 식은 symderive가 "
                "유도하고, 여기에 쓰기 전에 수치적으로 검증했습니다(중심 차분, 무작위 방향, 정확한 기호 비교). 다음 "
                "순서로 읽으면 됩니다:")
    items = [f"{k + 1}. [{p.document.title}]({p.slug}.md): {markdown_prose(p.document.summary)}"
             for k, p in enumerate(pages)]
    return "\n".join(front_matter(title, ("deep-learning", "backpropagation"), options.lang)
                     + [intro, ""] + items) + "\n"


def notes_tex(pages: list[Page], options: RenderOptions, with_figure: bool) -> str:
    """One standalone document: a section per page, the page's sections as unnumbered subsections."""
    title = say(options, "Backpropagation, derived: notes on CNNs and RNNs", "역전파 유도 노트: CNN과 RNN")
    head = preamble(options.lang, (r"\usepackage{graphicx}",))
    head += [rf"\title{{{title}}}", r"\date{}", r"\begin{document}", r"\maketitle", r"\tableofcontents", ""]
    body = []
    for p in pages:
        body += [rf"\section{{{p.document.title}}}", "", p.document.summary, ""]
        body += [latex_section(s) for s in p.document.sections]
        if p.slug == FLOW and with_figure:
            body += [r"\begin{center}", rf"\includegraphics[width=0.9\linewidth]{{{FIGURE}}}", r"\end{center}", ""]
    return "\n".join(head + body) + "\n\\end{document}\n"


def render(options: RenderOptions, only=None, progress: Progress | None = None,
           flow_settings: flow.FlowSettings | None = None) -> tuple[dict[str, str], tuple | None]:
    """The files of the site as ``{file name: text}``, and the flow data ``(settings, results)`` for
    the figure (None when the flow page is not wanted); ``flow_settings`` default to ``flow_page.NOTES_FLOW``."""
    sources, slugs = selected(only)
    pages, flow_data = [], None
    progress = progress or Progress(len(sources), after=float("inf"))  # silent unless the caller asks
    for name in sources:
        if name == FLOW:
            settings = flow_settings or flow_page.NOTES_FLOW
            flow_data = settings, flow.with_baseline(settings)
            pages.append(Page(FLOW, flow_page.flow_document(options, *flow_data)))
        else:
            pages += [p for p in derivation_pages(name, options) if slugs is None or p.slug in slugs]
        progress.step(name)
    files = {}
    for k, p in enumerate(pages):
        extra = flow_page.extra(options, *flow_data, FIGURE) if p.slug == FLOW else ""
        files[f"{p.slug}.md"] = page_markdown(pages, k, options, extra)
    files["index.md"] = index_markdown(pages, options)
    files["notes.tex"] = notes_tex(pages, options, with_figure=flow_data is not None)
    return files, flow_data


def expected_files(only) -> list[str]:
    """The files a run writes, known before anything is rendered."""
    sources, slugs = selected(only)
    by_source = slugs_by_source()
    pages = [slug for name in sources for slug in by_source[name] if slugs is None or slug in slugs]
    extra = [FIGURE, "gradient-flow.csv"] if FLOW in sources else []
    return [f"{n}.md" for n in pages] + ["index.md", "notes.tex"] + extra


def write_notes(folder, options: RenderOptions | None = None, only=None, force: bool = False,
                progress: Progress | None = None, flow_settings: flow.FlowSettings | None = None) -> list[Path]:
    """Render the site and write it into ``folder`` (created if missing). Nothing is written when a
    file exists and ``force`` is false, or when anything fails to render. ``flow_settings``: the gradient-flow
    page's run (default ``flow_page.NOTES_FLOW``)."""
    options = options or RenderOptions()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} exists and is not a folder")
    refuse_targets(folder, expected_files(only), force)  # before the rendering, which takes a while
    files, flow_data = render(options, only, progress, flow_settings)
    if flow_data is not None:
        settings, results = flow_data
        files.update(flow.figure_files(FIGURE, results, settings))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {folder}: {e.strerror}") from None
    return write_files(folder, files, force)
