"""The printable spelling of an elementwise function's registered torch equivalent.

Each function registers its PyTorch equivalent once, as ``torch=lambda torch, x: torch.tanh(x)`` (see
:class:`~symderive.ops.registry.Activation`). To print it into a program, that callable is run once on
*spellings* instead of the torch module and a tensor: every attribute, call and operator on a spelling
gives the spelling of its result, as torch.fx traces a module. So ``torch.tanh(x)`` spells
``torch.tanh({0})`` and ``(x > 0).to(x.dtype)`` spells ``({0} > 0).to({0}.dtype)``, a format string of the
argument's code. A callable that branches on its argument, converts it, or leaves torch is refused with a
:class:`~symderive.errors.ModelError` naming the function, never spelled wrong.
"""
from __future__ import annotations

from symderive.errors import ModelError
from symderive.ops.registry import ACTIVATIONS

#: The operators a torch expression may use on a tensor, with their Python spelling.
BINARY = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**", "matmul": "@", "gt": ">", "lt": "<",
          "ge": ">=", "le": "<=", "eq": "==", "ne": "!="}


class Spelling:
    """The Python source of a value built from ``torch`` and the argument ``{0}``."""

    def __init__(self, code: str):
        self.code = code

    def __getattr__(self, name: str) -> Spelling:
        if name.startswith("__"):
            raise AttributeError(name)
        return Spelling(f"{self.code}.{name}")

    def __call__(self, *args, **kwargs) -> Spelling:
        parts = [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kwargs.items()]
        return Spelling(f"{self.code}({', '.join(parts)})")

    def __getitem__(self, index) -> Spelling:
        return Spelling(f"{self.code}[{literal(index)}]")

    def __neg__(self) -> Spelling:
        return Spelling(f"(-{self.code})")

    def __abs__(self) -> Spelling:
        return Spelling(f"abs({self.code})")

    def __bool__(self):
        raise TypeError("a torch equivalent that branches on its argument cannot be printed")

    def __iter__(self):
        raise TypeError("a torch equivalent that iterates over its argument cannot be printed")

    def __len__(self):
        raise TypeError("a torch equivalent that takes the length of its argument cannot be printed")

    __float__ = __int__ = __index__ = __array__ = __len__


def binary(symbol: str, reflected: bool):
    def spell(self, other):
        left, right = (literal(other), self.code) if reflected else (self.code, literal(other))
        return Spelling(f"({left} {symbol} {right})")

    return spell


for _name, _symbol in BINARY.items():
    setattr(Spelling, f"__{_name}__", binary(_symbol, reflected=False))
    setattr(Spelling, f"__r{_name}__", binary(_symbol, reflected=True))


def literal(value) -> str:
    """The source of an argument: a spelling, a number, a string, or a tuple or list of them."""
    if isinstance(value, Spelling):
        return value.code
    if isinstance(value, (bool, int, float, str)) or value is None:
        return repr(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    raise TypeError(f"cannot print the value {value!r} of type {type(value).__name__}")


def torch_spelling(fname: str) -> str:
    """The registered torch equivalent of the elementwise function ``fname`` as a format string of its
    argument (``torch.tanh({0})``)."""
    try:
        spelled = ACTIVATIONS[fname].torch(Spelling("torch"), Spelling("{0}"))
        if not isinstance(spelled, Spelling):
            raise TypeError(f"it returned {type(spelled).__name__}, not a torch expression")
    except Exception as error:  # anything the registered callable does that is not a torch expression
        raise ModelError(f"the torch equivalent of the elementwise function {fname} cannot be printed as a "
                         f"program: {error} (register torch=lambda torch, x: ..., an expression of torch and x)"
                         ) from error
    return spelled.code
