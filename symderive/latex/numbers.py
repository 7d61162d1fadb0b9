r"""Bounds on the numbers a formula makes, checked before SymPy computes them.

The literal digits of a number are capped when the formula is tokenised
(:data:`~symderive.latex.tokens.MAX_DIGITS`), but a power computes a number much larger than its
digits: ``2^{10^{400}}`` has about ``3 \cdot 10^{399}`` digits and SymPy would never finish it, and
``(10^{300} A)^{1000}`` becomes ``10^{300000} A^{1000}``. So the parse is read twice:

* before SymPy evaluates it (the parser builds it unevaluated), every power is bounded by the size
  of the numbers it can make, ``D(b^x) = max(D(b) max(1, |x|), D(x))`` for a numeric exponent ``x``
  (a base's numbers raised to ``x``; exponents multiplied when powers nest), ``D`` of a number the
  ``log10`` of its numerator and denominator, ``D`` of any other node the sum over its children; a
  power with ``D`` above :data:`MAX_NUMBER_DIGITS` is refused;
* the numbers are then computed (:func:`evaluate_numbers`), and after the parse is put together every
  number must lie within ``10^{\pm 300}`` (what products and sums of
  bounded numbers made: a float64 holds no more, and a longer integer could not even be printed).
"""
from __future__ import annotations

import math

import sympy as sp

from symderive.errors import LatexParseError
from symderive.latex.parsed import is_plain_number

#: the largest decimal exponent of a number of a formula (of its magnitude, its numerator, its denominator)
MAX_NUMBER_DIGITS = 300
LIMIT_TEXT = f"numbers beyond 10^{{{MAX_NUMBER_DIGITS}}} or below 10^{{-{MAX_NUMBER_DIGITS}}} are refused"


def log_size(e) -> float:
    """``log10`` of a number's numerator plus that of its denominator (of ``|e|`` or ``1/|e|`` for a
    float); 0 for zero and for what is not a finite number."""
    if isinstance(e, sp.Rational):
        return sum(math.log10(abs(n)) for n in (e.p, e.q) if n)
    if isinstance(e, sp.Float) and e.is_finite and not e.is_zero:
        return abs(float(sp.log(abs(e), 10)))
    return 0.0


def exponent_size(x) -> float:
    """``|x|`` of a numeric exponent (already bounded, so it evaluates quickly); 1 for a value that has
    none (``1/0``: SymPy's power is then undefined at once)."""
    try:
        size = abs(complex(sp.N(x, 15)))
    except (TypeError, ValueError, OverflowError):
        return 1.0
    return size if math.isfinite(size) else 1.0


def bound_powers(expr, source: str, position: int) -> None:
    """Refuse a power of the unevaluated parse ``expr`` that would make a number beyond
    ``10^{MAX_NUMBER_DIGITS}`` (children first, so an exponent is bounded before its value is taken):
    ``D(b^x) = max(D(b) max(1, |x|), D(x))``, ``D`` of any other node the sum over its children."""
    sizes: dict = {}
    for node in sp.postorder_traversal(expr):
        if node in sizes:
            continue
        if node.is_Number:
            sizes[node] = log_size(node)
        elif node.is_Pow and node.exp.is_number:
            base, exp = sizes.get(node.base, 0.0), sizes.get(node.exp, 0.0)
            size = max(base * max(1.0, exponent_size(node.exp)), exp) if base else exp
            if size > MAX_NUMBER_DIGITS:
                raise LatexParseError(f"this power makes a number too large to compute ({LIMIT_TEXT})",
                                      source, position)
            sizes[node] = size
        else:
            sizes[node] = sum(sizes.get(a, 0.0) for a in node.args)


def bound_numbers(expr, source: str, position: int) -> None:
    """Refuse a number of the evaluated parse beyond ``10^{±MAX_NUMBER_DIGITS}`` (what products and sums
    of bounded numbers made)."""
    for a in expr.atoms(sp.Number):
        if isinstance(a, sp.Rational):
            out = any(n and math.log10(abs(n)) > MAX_NUMBER_DIGITS for n in (a.p, a.q))
        else:
            out = log_size(a) > MAX_NUMBER_DIGITS
        if out:
            raise LatexParseError(f"a number of this formula is out of range ({LIMIT_TEXT})", source, position)


def evaluate_numbers(expr):
    """``expr`` with every number written with operations computed once (``((0)^{-2})^{2}`` is ``zoo``,
    ``\\frac{1}{2}`` is ``1/2``), so that no unevaluated tower of numbers reaches SymPy's assumptions;
    safe after :func:`bound_powers`."""
    if not expr.args:
        return expr
    if is_plain_number(expr):
        return expr.func(*map(evaluate_numbers, expr.args))
    args = [evaluate_numbers(a) for a in expr.args]
    return expr.func(*args) if any(a is not b for a, b in zip(args, expr.args)) else expr
