"""The built-in derivations, one module each, in teaching order."""
from . import dense, rnn

REGISTRY = {
    "dense": dense.build,
    "rnn": rnn.build,
}
