"""A PyTorch code printer for model expressions: column vectors as ``(n, 1)`` float64 tensors.

The printed code says what the model's equations say, node by node, with nothing of the derivation:

* ``A B``          -> ``A @ B``;   ``c A`` -> ``c * A``;   ``A^T`` -> ``A.T``;   ``A^k`` -> ``matrix_power(A, k)``
* ``a ⊙ b``        -> ``a * b``;   ``a^{∘p}`` -> ``a ** p``;   ``f(z)`` -> the torch equivalent ``f`` registers
* ``||v||^2``      -> ``torch.sum(v ** 2)``;  ``diag(v)`` -> ``torch.diag(v.flatten())``
* ``[a; b]``       -> ``torch.cat([a, b], dim=0)``;  rows ``i:j`` of ``v`` -> ``v[i:j]``
* ``softmax(v)``   -> ``torch.softmax(v, dim=0)`` (``dim=1`` for a row), ``log softmax`` -> ``torch.log_softmax``
* ``v_{t-1}``      -> ``v[t - 1]`` (every time-indexed value is a dict keyed by step)

Printing dispatches by class name, as SymPy's printers do, but only to the ``_print_<Class>`` methods
written here (or in a subclass): a node without one is a :class:`~symderive.errors.ModelError` naming it,
never SymPy's generic fallback (``math.sqrt``, ``Trace(W)``), which would be a wrong torch program.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from symderive.errors import ModelError
from symderive.matrix.numpy_printer import code
from symderive.ops.nodes import Elementwise, TimeVar
from symderive.ops.registry import ACTIVATIONS
from symderive.verify.torch_spelling import torch_spelling

SUM, PRODUCT, POWER, ATOM = 1, 2, 3, 4

#: How tightly each kind of node's code binds (Python's own precedence of the operator it prints as).
BINDING = {sp.MatAdd: SUM, sp.Add: SUM, sp.MatMul: PRODUCT, sp.Mul: PRODUCT, sp.HadamardProduct: PRODUCT,
           sp.HadamardPower: POWER, sp.Pow: POWER}


def binding(e) -> int:
    if e.is_Number:
        return ATOM if e >= 0 else SUM  # -1 would read as an operator
    if reciprocal(e):
        return PRODUCT  # 1 / a
    return next((level for kind, level in BINDING.items() if isinstance(e, kind)), ATOM)


class TorchPrinter(PythonCodePrinter):
    """Prints a model expression as torch code. Settings: ``names`` (model name -> Python name) and
    ``sizes`` (the names of the size symbols the program has bound, ``n``, ``T`` -> their Python names)."""

    _default_settings = {**PythonCodePrinter._default_settings, "names": {}, "sizes": {}}

    def _print(self, expr, **kwargs) -> str:
        """Dispatch to this printer's own ``_print_<Class>`` for the first class of ``expr`` that has one."""
        if not isinstance(expr, sp.Basic):
            return repr(expr)
        method = self.method_for(type(expr))
        if method is None:
            raise ModelError(f"the torch program cannot print {type(expr).__name__} nodes ({expr}): "
                             "no torch printer is written for them")
        self._print_level += 1
        try:
            return method(self, expr, **kwargs)
        finally:
            self._print_level -= 1

    @classmethod
    def method_for(cls, node_type):
        own = [c for c in cls.__mro__ if issubclass(c, TorchPrinter)]
        for base in node_type.__mro__:
            for printer_class in own:
                method = printer_class.__dict__.get(f"_print_{base.__name__}")
                if method is not None:
                    return method
        return None

    def operand(self, e, tighter_than: int) -> str:
        """The code of ``e``, in parentheses unless it binds tighter than ``tighter_than``."""
        text = self._print(e)
        return text if binding(e) > tighter_than else f"({text})"

    # -- leaves ---------------------------------------------------------------------------------
    def _print_MatrixSymbol(self, e):
        return self.python_name(e.name)

    def _print_TimeVar(self, e: TimeVar):
        return f"{self.python_name(e.name)}[{code(e.time)}]"

    def python_name(self, name: str) -> str:
        if name not in self._settings["names"]:
            raise ModelError(f"{name} is not a value of the model the torch program is printed from")
        return self._settings["names"][name]

    def _print_Symbol(self, e):
        if e.name not in self._settings["sizes"]:
            raise ModelError(f"the torch program cannot print the symbol {e.name}: it is not a size of the model")
        return self._settings["sizes"][e.name]

    def _print_Integer(self, e):
        return str(int(e))

    def _print_Rational(self, e):
        return repr(float(e))

    def _print_Float(self, e):
        return repr(float(e))

    def _print_NumberSymbol(self, e):
        return repr(float(e))

    # -- constants ------------------------------------------------------------------------------
    def _print_OneMatrix(self, e):
        return f"torch.ones({self.shape(e)}, dtype=torch.float64)"

    def _print_ZeroMatrix(self, e):
        return f"torch.zeros({self.shape(e)}, dtype=torch.float64)"

    def _print_Identity(self, e):
        return f"torch.eye({self._print(e.rows)}, dtype=torch.float64)"

    def shape(self, e) -> str:
        return f"({self._print(e.rows)}, {self._print(e.cols)})"

    # -- sums, products, powers -----------------------------------------------------------------
    def _print_MatAdd(self, e):
        """Positive terms first, then ``- term`` for each term with a negative coefficient; an all-ones
        term is ``1.0`` (it broadcasts to the shape of the sum, which every term has)."""
        def term(a):
            return "1.0" if isinstance(a, sp.OneMatrix) else self.operand(a, SUM)

        positive = [term(a) for a in e.args if not negated(a)]
        negative = [term(-a) for a in e.args if negated(a)]
        return " + ".join(positive or ["0.0"]) + "".join(" - " + c for c in negative)

    def _print_MatMul(self, e):
        coeff, factors = e.as_coeff_matrices()
        product = " @ ".join(self.operand(f, PRODUCT) for f in factors)
        if coeff == 1 or coeff == -1:
            return product if coeff == 1 else f"-{product}"
        return f"{self.operand(coeff, PRODUCT)} * {product}"

    def _print_HadamardProduct(self, e):
        return " * ".join(self.operand(a, PRODUCT) for a in e.args)

    def _print_HadamardPower(self, e):
        return f"{self.operand(e.base, POWER)} ** {self.operand(e.exp, POWER)}"

    def _print_MatPow(self, e):
        """``A^k``; of a 1 x 1 value (a scalar), the power of its entry."""
        if e.base.shape == (1, 1):
            return f"{self.operand(e.base, POWER)} ** {self.operand(e.exp, POWER)}"
        if not e.exp.is_Integer:
            raise ModelError(f"the torch program cannot print the matrix power {e}: the exponent must be an integer")
        return f"torch.linalg.matrix_power({self._print(e.base)}, {int(e.exp)})"

    def _print_Transpose(self, e):
        return f"{self.operand(e.arg, POWER)}.T"

    # Scalars (a loss, a norm, a coefficient): sums, products and powers of numbers and scalar nodes.
    def _print_Add(self, e):
        terms = e.as_ordered_terms()
        positive = [self._print(a) for a in terms if not a.could_extract_minus_sign()]
        negative = [self.operand(-a, SUM) for a in terms if a.could_extract_minus_sign()]
        return " + ".join(positive or ["0.0"]) + "".join(" - " + c for c in negative)

    def _print_Mul(self, e):
        """``a * b / c``: the factors with a negative exponent (``T^{-1}`` of a mean) divide."""
        if e.could_extract_minus_sign():
            return f"-{self.operand(-e, PRODUCT)}"
        factors = e.as_ordered_factors()
        divisors = [1 / f for f in factors if reciprocal(f)]
        numerator = [f for f in factors if not reciprocal(f)] or [sp.S.One]
        return " * ".join(self.operand(a, PRODUCT) for a in numerator) + "".join(
            f" / {self.operand(c, POWER if isinstance(c, (sp.Mul, sp.Add)) else PRODUCT)}" for c in divisors)

    def _print_Pow(self, e):
        """``a ** p``; ``1 / a ** p`` for a negative number p."""
        if reciprocal(e):
            return f"1 / {self.operand(1 / e, PRODUCT)}"
        return f"{self.operand(e.base, POWER)} ** {self.operand(e.exp, POWER)}"

    # -- functions and the other nodes ----------------------------------------------------------
    def _print_Elementwise(self, e: Elementwise):
        return spell(e.fname, self._print(e.arg), self.operand(e.arg, POWER))

    def _print_Function(self, e):
        """A registered function of a scalar (``log ||v||^2``) through the same torch equivalent."""
        fname = next((f.name for f in ACTIVATIONS.values() if f.scalar is type(e)), None)
        if fname is None or len(e.args) != 1:
            raise ModelError(f"the torch program cannot print the function {type(e).__name__}: "
                             "it is not a registered elementwise function")
        return spell(fname, self._print(e.args[0]), self.operand(e.args[0], POWER))

    def _print_SquaredNorm(self, e):
        return f"torch.sum({self.operand(e.arg, POWER)} ** 2)"

    def _print_DiagMatrix(self, e):
        return f"torch.diag({self.operand(e.args[0], POWER)}.flatten())"

    def _print_Softmax(self, e):
        """``softmax`` over the vector's entries: down a column, or along a row (the row convention)."""
        return f"torch.softmax({self._print(e.arg)}, dim={entries_axis(e.arg)})"

    def _print_LogSoftmax(self, e):
        """``log softmax`` over the vector's entries (torch computes it stably, as log_softmax)."""
        return f"torch.log_softmax({self._print(e.arg)}, dim={entries_axis(e.arg)})"

    def _print_Option(self, e):
        """An option's number at the sizes the program binds (``1 / d_k ** 0.5``)."""
        return self._print(e.value)

    def _print_RowSum(self, e):
        return f"torch.sum({self._print(e.arg)}, dim=1, keepdim=True)"

    def _print_RowMean(self, e):
        return f"torch.mean({self._print(e.arg)}, dim=1, keepdim=True)"

    def _print_SoftmaxRows(self, e):
        """``torch.softmax(S, dim=1)``; causal: the entries above the diagonal set to -inf first."""
        scores = self._print(e.arg)
        if e.causal.value:
            scores = f"({scores}).masked_fill(torch.ones_like({scores}).tril() == 0, float('-inf'))"
        return f"torch.softmax({scores}, dim=1)"

    def _print_NormalizeRows(self, e):
        """Each row minus its mean over the square root of its biased variance plus eps."""
        x, eps = self.operand(e.arg, POWER), self._print(e.eps)
        return (f"(({x} - {x}.mean(dim=1, keepdim=True)) / "
                f"torch.sqrt({x}.var(dim=1, unbiased=False, keepdim=True) + {eps}))")

    def _print_InvStd(self, e):
        x = self.operand(e.arg, POWER)
        return f"(1 / torch.sqrt({x}.var(dim=1, unbiased=False, keepdim=True) + {self._print(e.eps)}))"

    def _print_SumEntries(self, e):
        return f"torch.sum({self._print(e.arg)})"

    def _print_Concat(self, e):
        return "torch.cat([" + ", ".join(self._print(a) for a in e.args) + "], dim=0)"

    def _print_HeadStack(self, e):
        """``stack_h(A_h B_h^T)``, the heads stacked as blocks of rows."""
        heads = self._print(e.heads)
        return (f"torch.cat([a @ b.T for a, b in zip({self.operand(e.a, POWER)}.chunk({heads}, dim=1), "
                f"{self.operand(e.b, POWER)}.chunk({heads}, dim=1))], dim=0)")

    def _print_HeadScale(self, e):
        return f"({self._print(e.width)} / {self._print(e.count)}) ** -0.5"

    def _print_HeadConcat(self, e):
        """``concat_h(P_h B_h)``: P in blocks of rows, B in blocks of columns."""
        heads = self._print(e.heads)
        return (f"torch.cat([p @ b for p, b in zip({self.operand(e.a, POWER)}.chunk({heads}, dim=0), "
                f"{self.operand(e.b, POWER)}.chunk({heads}, dim=1))], dim=1)")

    def _print_HeadConcatT(self, e):
        """``concat_h(P_h^T A_h)``: P in blocks of rows, A in blocks of columns."""
        heads = self._print(e.heads)
        return (f"torch.cat([p.T @ a for p, a in zip({self.operand(e.a, POWER)}.chunk({heads}, dim=0), "
                f"{self.operand(e.b, POWER)}.chunk({heads}, dim=1))], dim=1)")

    def _print_Rows(self, e):
        arg, start, stop = e.args
        return f"{self.operand(arg, POWER)}[{self._print(start)}:{self._print(stop)}]"


def reciprocal(e) -> bool:
    """Is ``e`` a scalar power with a negative number as its exponent (``T^{-1}``, printed ``1 / T``)?"""
    return isinstance(e, sp.Pow) and e.exp.is_Number and e.exp.is_negative


def entries_axis(v) -> int:
    """The axis along which a vector's entries lie: 1 for a row (1 x n, n not 1), else 0."""
    rows, cols = v.shape
    return 1 if rows == 1 and cols != 1 else 0


def negated(e) -> bool:
    return isinstance(e, sp.MatMul) and e.as_coeff_matrices()[0].is_negative


#: A spelling that only passes its argument to one call, ``torch.tanh({0})``: no parentheses needed.
CALL = re.compile(r"[\w.]+\(\{0\}(, [^{}]*)?\)")


def spell(fname: str, argument: str, atom: str) -> str:
    """``f(argument)`` through the torch equivalent registered for ``f``; ``atom`` is the argument in
    parentheses where it is not an atom, for spellings that apply operators to it (``({0} > 0)``)."""
    spelling = torch_spelling(fname)
    return spelling.replace("{0}", argument if CALL.fullmatch(spelling) else atom)
