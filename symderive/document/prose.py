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


def blocks_named(options, k: str, adjoint: str, state: str) -> tuple[str, str]:
    r"""``(lhs, why)`` of the recurrence truncated in blocks of ``k`` steps (``$K = 3$``), its adjoint named as what
    truncation computes: ``\delta_t^{(K)} = \sum_{s=t}^{b_t} \partial \ell_s / \partial h_t``, the gradient of the
    losses of the state's block from step t on, not ``\partial L / \partial h_t`` (``adjoint``, ``state``: LaTeX
    at step t)."""
    lhs = rf"{adjoint}^{{(K)}} = \sum_{{s=t}}^{{b_t}} \frac{{\partial \ell_{{s}}}}{{\partial {state}}}"
    why = say(options,
              rf"Truncated in blocks of {k} steps: the state entering each block is held constant, so no share "
              r"crosses from step $t+1$ into step $t$ when $t$ ends a block. The truncated adjoint "
              rf"${adjoint}^{{(K)}}$ is therefore not $\partial L / \partial {state}$: it is the gradient of the "
              rf"losses of ${state}$'s own block from step $t$ on, with $\ell_s$ the loss of step $s$ and "
              rf"${BLOCK_END}$ the last step of the block.",
              rf"{k} 단계 블록으로 자르면 각 블록에 들어오는 상태가 상수로 고정됩니다. 그래서 $t$가 블록의 마지막 "
              r"단계이면 $t+1$ 단계의 몫이 $t$ 단계로 넘어오지 않습니다. 따라서 잘린 수반 "
              rf"${adjoint}^{{(K)}}$는 $\partial L / \partial {state}$가 아니라, ${state}$가 속한 블록에서 "
              rf"$t$ 단계부터의 손실들의 기울기입니다. 여기서 $\ell_s$는 $s$ 단계의 손실이고, ${BLOCK_END}$는 "
              r"그 블록의 마지막 단계입니다.")
    return lhs, why


def window_named(options, adjoint: str, state: str) -> tuple[str, str]:
    r"""``(lhs, sentence)`` naming the window-truncated adjoint as what truncation computes:
    ``\delta_i^{(K)} = \sum_{t=i}^{\min(i+K-1, T)} \partial \ell_t / \partial h_i``, the gradient of the losses that
    still reach the state (``adjoint``, ``state``: LaTeX at step i)."""
    lhs = rf"{adjoint}^{{(K)}} = \sum_{{t=i}}^{{\min(i+K-1,\, T)}} \frac{{\partial \ell_{{t}}}}{{\partial {state}}}"
    sentence = say(options,
                   rf" The truncated adjoint ${adjoint}^{{(K)}}$ is therefore not $\partial L / \partial {state}$ but "
                   rf"the gradient of the losses that still reach ${state}$, with $\ell_t$ the loss of step $t$:",
                   rf" 따라서 잘린 수반 ${adjoint}^{{(K)}}$는 $\partial L / \partial {state}$가 아니라 ${state}$까지 "
                   r"닿는 손실들만의 기울기입니다. 여기서 $\ell_t$는 $t$ 단계의 손실입니다:")
    return lhs, sentence
