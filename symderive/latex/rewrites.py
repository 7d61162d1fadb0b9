r"""Spellings of a model equation read as the model language's own forms, before shapes are inferred.

* ``e^{z}`` (a power of e that is not a number) is ``\exp(z)``;
* ``\log \operatorname{softmax}(o)`` is the log-softmax of o;
* ``\sum_k a_k b_k`` (a sum over an index other than t) is the sum of the entries of ``a \odot b``: the
  index k is dropped from every symbol it subscripts (``y_{t,k}`` is ``y_t``), a product of its terms is
  entrywise, and the entries of what is left are added (:class:`entry_sum`). So
  ``-\sum_k y_k \log p_k`` reads as ``-\mathbf{1}^\top (y \odot \log p)``;
* ``\sqrt{d_k}`` (the root of d or n with a subscript: ``d_k``, ``d_{model}``, ``n_h``) is the root of the size
  ``d_k``, the same size a shape declaration names (``--shape 'Q: N x d_k'``), not a value d indexed by k;
* ``\operatorname{softmax}_{\text{row}}(S)`` (also ``rows``) is the softmax of each row of S (:data:`ROW_SOFTMAX`).
"""
from __future__ import annotations

import sympy as sp

from symderive.errors import ModelError
from symderive.latex.parsed import hadamard, is_plain_number
from symderive.ops.nodes import t

EULER = "e"
#: the letters a size is named by (``d_k``, ``n_h``), and the reader's name of a row-wise softmax
SIZE_LETTERS = ("d", "n")
ROW_SOFTMAX = "softmax_rows"


class entry_sum(sp.Function):
    r"""``\sum_k v_k``: the sum of the entries of a vector."""

    is_commutative = False
    nargs = 1


def rewrite(expr):
    """``expr`` with the spellings of the module's docstring read as their forms (innermost first)."""
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, sp.Sum) and len(expr.limits) > 1:  # SymPy merges \sum_t \sum_k: the inner sum first
        inner = rewrite(sp.Sum(expr.function, expr.limits[0]))
        if not isinstance(inner, sp.Sum):  # (a sum over time stays merged, and is read as before)
            return rewrite(sp.Sum(inner, *expr.limits[1:]))
    args = [rewrite(a) for a in expr.args]
    if any(a is not b for a, b in zip(args, expr.args)):
        expr = expr.func(*args)
    if is_exp(expr):
        return sp.Function("exp")(expr.exp)
    if is_log_of_softmax(expr):
        return sp.Function("log_softmax")(*expr.args[0].args)
    if isinstance(expr, sp.Sum) and expr.limits[0][0] != t:
        return sum_of_entries(expr)
    if isinstance(expr, sp.Pow) and abs(expr.exp) == sp.S.Half and size_name(expr.base):
        return sp.Pow(sp.Symbol(size_name(expr.base), integer=True, positive=True), expr.exp)
    if is_row_softmax(expr):
        return sp.Function(ROW_SOFTMAX)(*expr.args)
    return expr


def is_size(e) -> bool:
    """A size in a model equation (``d_k`` under a square root): a positive integer symbol, a number."""
    return isinstance(e, sp.Symbol) and e.is_commutative and bool(e.is_integer) and bool(e.is_positive)


def size_name(e) -> str | None:
    """``d_k`` for ``d_k`` (read as d indexed by k) or ``d_{model}``: d or n with a subscript of letters; or None."""
    if isinstance(e, sp.Indexed) and len(e.indices) == 1 and isinstance(e.indices[0], sp.Symbol):
        name = f"{e.base.label}_{e.indices[0]}"
    else:
        name = e.name if isinstance(e, sp.Symbol) else ""
    letter, _, subscript = name.partition("_")
    return name if letter in SIZE_LETTERS and subscript.isalpha() and subscript != str(t) else None


def is_row_softmax(expr) -> bool:
    r"""``\operatorname{softmax}_{	ext{row}}(S)``, ``softmax_{rows}(S)``: a softmax subscripted row(s)."""
    if not isinstance(expr, sp.Function) or len(expr.args) != 1:
        return False
    name = type(expr).__name__
    subscript = name.partition("_")[2].replace(r"\text", "").strip("{} ")
    return name.startswith("softmax_") and subscript in ("row", "rows")


def is_exp(expr) -> bool:
    """``e^{z}`` with an exponent that is not a number (``e^{2}`` may be a symbol e squared)."""
    return (isinstance(expr, sp.Pow) and isinstance(expr.base, sp.Symbol) and expr.base.name == EULER
            and not is_plain_number(expr.exp))


def is_log_of_softmax(expr) -> bool:
    r"""``\log \operatorname{softmax}(o)``: the log-softmax (one node, stable and with a compact rule)."""
    return (isinstance(expr, sp.Function) and type(expr).__name__ == "log" and len(expr.args) == 1
            and isinstance(expr.args[0], sp.Function) and type(expr.args[0]).__name__ == "softmax")


def sum_of_entries(expr):
    r"""``\sum_{k} body`` -> ``entry_sum(body without k)``, its products entrywise."""
    var, lo, hi = expr.limits[0]
    if lo != 1 or not (isinstance(hi, sp.Symbol) and not hi.has(t)):
        raise ModelError(rf"a sum over {var} in a model equation runs over all the entries, from 1 "
                         rf"(\sum_{{{var}}} y_{var} \log p_{var}): {expr}")
    body = expr.function.replace(lambda e: isinstance(e, sp.Indexed) and var in e.indices,
                                 lambda e: without_index(e, var))
    if body.has(var):
        raise ModelError(rf"in \sum_{{{var}}}, {var} may only be the index of an entry (y_{var}): {expr}")
    return entry_sum(entrywise(body))


def without_index(e: sp.Indexed, var):
    """``y_{t,k}`` -> ``y_t``, ``y_k`` -> ``y``."""
    rest = [i for i in e.indices if i != var]
    return e.base[tuple(rest)] if rest else e.base.label


def entrywise(body):
    """``body`` with every product of non-numbers an entrywise product (the terms of one entry multiply)."""
    def as_hadamard(e):
        numbers = [a for a in e.args if is_plain_number(a)]
        others = [a for a in e.args if not is_plain_number(a)]
        return sp.Mul(*numbers) * (hadamard(*others) if len(others) > 1 else others[0])
    return body.replace(lambda e: isinstance(e, sp.Mul) and sum(not is_plain_number(a) for a in e.args) > 1,
                        as_hadamard)
