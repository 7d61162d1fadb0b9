"""The built-in derivations, one module each (with ``TITLE`` and ``build()``, and ``PAGES`` when the
derivation splits into several notes pages), in teaching order."""
from . import cnn, conv1d, conv2d, dense, gru, lstm, pool2d, rnn

REGISTRY = {
    "dense": dense,
    "conv1d": conv1d,
    "conv2d": conv2d,
    "pool2d": pool2d,
    "cnn": cnn,
    "rnn": rnn,
    "lstm": lstm,
    "gru": gru,
}
