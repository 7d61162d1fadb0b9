"""Render options: the notation and content settings every document of every derivation takes."""
from __future__ import annotations

from dataclasses import dataclass

from symderive.errors import OptionError
from symderive.matrix.latex_printer import LAYOUTS

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
