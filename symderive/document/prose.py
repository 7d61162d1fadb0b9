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


#: the last step of the block of step t when steps 1..T are cut into blocks of K steps
BLOCK_END = r"b_t = \min(K \lceil t/K \rceil, T)"


def truncated_blocks(adjoint: str, state: str) -> str:
    r"""What truncation in blocks computes, named: ``\delta_{t}^{(K)} = \sum_{s=t}^{b_t} \partial \ell_s /
    \partial h_{t}`` (``adjoint`` and ``state`` at step t, in LaTeX): the gradient of the losses of the state's
    block from step t on, not ``\partial L / \partial h_t``."""
    return rf"{adjoint}^{{(K)}} = \sum_{{s=t}}^{{b_t}} \frac{{\partial \ell_{{s}}}}{{\partial {state}}}"


def truncated_window(adjoint: str, state: str) -> str:
    r"""What window truncation computes, named: ``\delta_{i}^{(K)} = \sum_{t=i}^{\min(i+K-1, T)} \partial \ell_t /
    \partial h_{i}`` (``adjoint`` and ``state`` at step i): the gradient of the losses that still reach the state."""
    return rf"{adjoint}^{{(K)}} = \sum_{{t=i}}^{{\min(i+K-1,\, T)}} \frac{{\partial \ell_{{t}}}}{{\partial {state}}}"


def blocks_meaning(options, adjoint: str, state: str) -> str:
    """The sentence saying what the truncated adjoint of blocks is (``adjoint``, ``state``: inline LaTeX at t)."""
    return say(options,
               rf" The truncated adjoint ${adjoint}^{{(K)}}$ is therefore not $\partial L / \partial {state}$: it is "
               rf"the gradient of the losses of "
               rf"${state}$'s own block from step $t$ on, with $\ell_s$ the loss of step $s$ and ${BLOCK_END}$ the "
               r"last step of the block.",
               rf" 따라서 잘린 수반 ${adjoint}^{{(K)}}$는 $\partial L / \partial {state}$가 아니라, "
               rf"${state}$가 속한 블록에서 "
               rf"$t$ 단계부터의 손실들의 기울기입니다. 여기서 $\ell_s$는 $s$ 단계의 손실이고, ${BLOCK_END}$는 그 "
               r"블록의 마지막 단계입니다.")


def window_meaning(options, adjoint: str, state: str) -> str:
    """The sentence saying what the truncated adjoint of a window is (``adjoint``, ``state``: inline LaTeX at i)."""
    return say(options,
               rf" The truncated adjoint ${adjoint}^{{(K)}}$ is therefore not $\partial L / \partial {state}$ but the "
               rf"gradient of the losses that still reach ${state}$, with $\ell_t$ the loss of step $t$:",
               rf" 따라서 잘린 수반 ${adjoint}^{{(K)}}$는 $\partial L / \partial {state}$가 아니라 ${state}$까지 닿는 "
               r"손실들만의 기울기입니다. 여기서 $\ell_t$는 $t$ 단계의 손실입니다:")
