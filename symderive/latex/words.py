"""The words of LaTeX that name functions, and the names a model reads as activations and losses.

One place for every table of function names the LaTeX layer knows. The elementwise functions are not
listed here: each registers the words that read as it (``symderive.ops.registry.deffunction``), and
the reader and the model builder ask the registry, so a function registered later is read too.
"""
from __future__ import annotations

from symderive.ops.registry import ACTIVATIONS, function_named

GREEK = frozenset("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi
    pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega ell""".split())
#: commands that always are functions, with the name they get
FUNCTION_COMMANDS = {"sigma": "sigma", "tanh": "tanh", "exp": "exp", "log": "log", "ln": "log", "max": "max",
                     "min": "min", "sin": "sin", "cos": "cos", "sgn": "sign"}
#: Greek letters and letters that are functions when a parenthesis follows (``\phi(z)``, ``f(x, h)``)
CALLABLE_LETTERS = frozenset({"phi", "varphi", "psi", "ell", "f", "g", "l", "F", "G"})
#: words read as function names that are not elementwise functions
OTHER_FUNCTION_WORDS = ("softmax", "diag")
#: the names of a per-step loss (``\ell_t``, ``\ell(o_t, y_t)``)
LOSS_NAMES = ("ell", "l", "E", "J")


def function_words() -> tuple[str, ...]:
    r"""Words read as function names when spelled out (plain letters, ``\operatorname``, ``\mathrm``,
    ``\text``): the other function words and every registered function's words that are words, not
    Greek letters or labelled names (``sigmoid``, ``ReLU``; not ``sigma`` or ``sigma_g``)."""
    spelled = (w for f in ACTIVATIONS.values() for w in f.words if w.isalpha() and len(w) > 1 and w not in GREEK)
    return OTHER_FUNCTION_WORDS + tuple(spelled)


def activation_of(name: str) -> str | None:
    """The registered elementwise function a name reads as (``sigma_g`` -> ``sigmoid``), or None."""
    f = function_named(name)
    return f.name if f else None


def activation_words() -> list[str]:
    """Every name that reads as an elementwise function, as the reader hands them on (lower case)."""
    return sorted({w.lower() for f in ACTIVATIONS.values() for w in f.words})
