"""The words of LaTeX that name functions, and the names a model reads as activations and losses.

One place for every table of function names the LaTeX layer knows: the reader (:mod:`symderive.latex.calls`,
:mod:`symderive.latex.atoms`) reads the first three, the model builder (:mod:`symderive.latex.shapes`,
:mod:`symderive.latex.converter`, :mod:`symderive.latex.builder`) and the claim checker the last two.
"""
from __future__ import annotations

#: commands that always are functions, with the name they get
FUNCTION_COMMANDS = {"sigma": "sigma", "tanh": "tanh", "exp": "exp", "log": "log", "ln": "log", "max": "max",
                     "min": "min", "sin": "sin", "cos": "cos", "sgn": "sign"}
#: Greek letters and letters that are functions when a parenthesis follows (``\phi(z)``, ``f(x, h)``)
CALLABLE_LETTERS = frozenset({"phi", "varphi", "psi", "ell", "f", "g", "l", "F", "G"})
#: words read as function names (plain letters, ``\operatorname``, ``\mathrm``, ``\text``)
FUNCTION_WORDS = ("softmax", "sigmoid", "relu", "ReLU", "tanh", "diag", "sign", "exp", "log", "softplus")

#: activation names as written -> the engine's activation
ACTIVATION_NAMES = {"sigma": "sigmoid", "sigmoid": "sigmoid", "sigma_g": "sigmoid", "tanh": "tanh", "sigma_c": "tanh",
                    "sigma_h": "tanh", "relu": "relu", "exp": "exp", "log": "log", "softplus": "softplus"}
#: the names of a per-step loss (``\ell_t``, ``\ell(o_t, y_t)``)
LOSS_NAMES = ("ell", "l", "E", "J")
