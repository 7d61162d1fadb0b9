"""The built-in derivations, one module each (with ``TITLE`` and ``build()``, and ``PAGES`` when the
derivation splits into several notes pages), in teaching order. Each writes its model through the
public API (``symderive.Model`` and ``symderive.derive``, or the index-level program types of
``symderive.index``) and adds its prose and its sizes."""
from __future__ import annotations

from symderive.derivations import (
    attention,
    cnn,
    conv1d,
    conv2d,
    dense,
    gru,
    layernorm,
    lstm,
    mha,
    pool2d,
    rnn,
    softmax,
    transformer,
)
from symderive.errors import UnknownDerivationError
from symderive.pipeline import Derivation

REGISTRY = {
    "dense": dense,
    "conv1d": conv1d,
    "conv2d": conv2d,
    "pool2d": pool2d,
    "cnn": cnn,
    "rnn": rnn,
    "lstm": lstm,
    "gru": gru,
    "softmax": softmax,
    "attention": attention,
    "layernorm": layernorm,
    "mha": mha,
    "transformer": transformer,
}

_built: dict[str, Derivation] = {}


def available() -> dict[str, str]:
    """Name -> one-line description (the title) of every built-in derivation, in teaching order:
    dense, conv1d, conv2d, pool2d, cnn, rnn, lstm, gru, softmax, attention, layernorm, mha, transformer."""
    return {name: module.TITLE for name, module in REGISTRY.items()}


def derivation(name: str) -> Derivation:
    """The built-in derivation ``name`` (one of :func:`available`), built once per process and then shared.

    The result renders (``to_latex``), exports a NumPy module (``export``, ``load_module``) and verifies
    every gradient three ways (``verify``). Raises :class:`UnknownDerivationError`, which lists the known
    names, for any other name.
    """
    if name not in REGISTRY:
        raise UnknownDerivationError(name, list(REGISTRY))
    if name not in _built:
        _built[name] = REGISTRY[name].build()
    return _built[name]
