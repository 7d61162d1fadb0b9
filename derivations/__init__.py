"""The built-in derivations, one module each (with ``TITLE`` and ``build()``), in teaching order."""
from . import dense, gru, lstm, rnn

REGISTRY = {
    "dense": dense,
    "rnn": rnn,
    "lstm": lstm,
    "gru": gru,
}
