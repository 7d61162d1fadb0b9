"""The words of a derivation document in each language; the math is shared.

Every sentence a document prints is written twice, side by side where it is used:
``say(options, en="...", ko="...")`` picks the one for ``options.lang``. Keeping both versions next
to each other (rather than in a catalogue keyed by ids) keeps them in step when the math in them
changes; the Korean is written as Korean, not translated word for word.
"""
from __future__ import annotations


def say(options, en: str, ko: str) -> str:
    """The sentence in the language of ``options`` (``options.lang``: "en" or "ko")."""
    return ko if getattr(options, "lang", "en") == "ko" else en


def by_layout(options, column: str, row: str) -> str:
    """A hand-written formula in the layout of ``options`` (``options.layout``)."""
    return row if getattr(options, "layout", "column") == "row" else column


def vanilla_jacobian(options, step: str = "t") -> str:
    """The vanilla RNN's one-step Jacobian ``dh_step/dh_{step-1}`` as the prose cites it (LSTM, GRU and
    the gradient-flow page compare with it), in the layout of ``options``."""
    h = f"h_{step}"
    return by_layout(options, rf"\operatorname{{diag}}(1 - {h} \odot {h})\, W_{{hh}}",
                     rf"W_{{hh}} \operatorname{{diag}}(1 - {h} \odot {h})")
