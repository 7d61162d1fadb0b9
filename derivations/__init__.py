"""The built-in derivations, one module each (with ``TITLE`` and ``build()``), in teaching order."""
from . import dense, rnn

REGISTRY = {
    "dense": dense,
    "rnn": rnn,
}
