r"""Shapes of model expressions, inferred by unification, and the ``--shape`` declarations that fix them.

``A B`` needs cols(A) = rows(B); ``a + b`` and ``a \odot b`` need equal shapes; a transpose swaps.
Declarations fix sizes; otherwise an upper-case letter is a matrix, a lower-case letter a vector (a
column, or a row in the row layout), an unassigned lower-case Greek letter a scalar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import LatexParseError, ModelError, ShapeMismatchError
from symderive.latex.names import base_name, is_variable
from symderive.latex.parsed import IDENTITY, ONES, concat, hadamard, is_plain_number, norm, transpose
from symderive.latex.reader import parse_sides
from symderive.latex.rewrites import entry_sum, is_size
from symderive.latex.words import activation_of, activation_words


@dataclass
class Shapes:
    """Unification of symbolic sizes: unknowns ``_u0, _u1, ...`` bound to size expressions."""

    bound: dict = field(default_factory=dict)
    count: int = 0

    def fresh(self) -> sp.Symbol:
        self.count += 1
        return sp.Symbol(f"_u{self.count}", integer=True, positive=True)

    def resolve(self, dim):
        dim = sp.sympify(dim)
        for _ in range(100):
            new = dim.xreplace(self.bound)
            if new == dim:
                return sp.expand(new)
            dim = new
        return sp.expand(dim)

    def unify(self, a, b, what: str):
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return
        for x, y in ((a, b), (b, a)):
            if isinstance(x, sp.Symbol) and x.name.startswith("_u") and x not in y.free_symbols:
                self.bound[x] = y
                return
        unknowns = [s for s in (a - b).free_symbols if s.name.startswith("_u")]
        if len(unknowns) == 1:
            solution = sp.solve(sp.Eq(a, b), unknowns[0])
            if solution:
                self.bound[unknowns[0]] = solution[0]
                return
        raise ShapeMismatchError(what.format(self.text(a), self.text(b)))

    def text(self, dim) -> str:
        return str(self.resolve(dim))


def shape_text(shapes: Shapes, shape) -> str:
    if shape is None:
        return "scalar"
    return " x ".join(shapes.text(d) for d in shape)


#: the largest size a declaration may give (the checker runs a model at its declared sizes, explicitly)
MAX_SIZE = 64


def split_declaration(text: str) -> tuple[str, list[str]]:
    """``'W_{hh}: n x n'`` -> (name, ['n', 'n']); a size is a name or a whole number in 1..MAX_SIZE."""
    if ":" not in text:
        raise LatexParseError("a shape is declared as 'NAME: ROWS x COLS' "
                              "(or 'NAME: SIZE' for a vector, 'NAME: 1' for a scalar)", text, len(text))
    name_text, dims_text = text.split(":", 1)
    target = parse_sides(name_text.strip())
    if len(target) != 1 or not is_variable(target[0]):
        raise LatexParseError("the left side of a shape declaration must be one symbol", text, 0)
    for sep in (r"\times", "×", "*", ","):
        dims_text = dims_text.replace(sep, " x ")
    dims = [d.strip() for d in dims_text.split(" x ") if d.strip()]
    if not 1 <= len(dims) <= 2:
        raise LatexParseError("sizes are names or numbers separated by 'x' (e.g. 'n x d')", text, len(name_text) + 1)
    for d in dims:
        check_size(d, text, len(name_text) + 1)
    return base_name(target[0]), dims


def check_size(d: str, text: str, position: int) -> None:
    """Refuse a size that is neither a name (``n``, ``d_h``) nor a whole number from 1 to :data:`MAX_SIZE`."""
    if d.isascii() and d.isdigit():
        if not 1 <= int(d) <= MAX_SIZE:
            raise LatexParseError(f"a size of {int(d)} is refused: sizes are whole numbers from 1 to {MAX_SIZE} "
                                  "(or a name such as n, and the checker chooses small sizes)", text, position)
        return
    if not (d.isascii() and d[0].isalpha() and d.replace("_", "").isalnum()):
        raise LatexParseError(f"a size is a name or a whole number (e.g. 'n x d', '3 x 2'), not {d!r}", text, position)
    if d == "T":
        raise LatexParseError("T is the number of steps; give sizes other names (n, d, ...)", text, position)


def read_declarations(declared: list[str], split=None) -> dict:
    """``{name: sizes}`` of the declarations ``'NAME: ROWS x COLS'`` (each read by ``split``, by default
    :func:`split_declaration`); a name declared twice is refused."""
    declarations = {}
    for text in declared:
        name, dims = (split or split_declaration)(text)
        if name in declarations:
            raise ModelError(f"the shape of {name} is declared twice (--shape '{text}')")
        declarations[name] = dims
    return declarations


class ShapeInference:
    """The shapes of the symbols of a model's equations (None for a scalar), found by unifying sizes."""

    def __init__(self, declarations: dict, layout: str):
        self.declarations, self.layout = declarations, layout
        self.shapes = Shapes()
        self.dims: dict = {}
        self.sequences: set = set()
        self.current = ""  # the equation being read, named in errors

    def kind_dims(self, name: str):
        """The shape of an argument first seen: declared, or by the letter's case."""
        if name in self.declarations:
            dims = [sp.Integer(int(d)) if d.isdigit() else sp.Symbol(d, integer=True, positive=True)
                    for d in self.declarations[name]]
            if dims == [1]:
                return None
            if len(dims) == 1:
                return (dims[0], sp.S.One) if self.layout == "column" else (sp.S.One, dims[0])
            return tuple(dims)
        if self.layout == "scalar":
            return (sp.S.One, sp.S.One)
        letter = name.split("_")[0].split("^")[0].rstrip("'")
        if letter in ("alpha", "beta", "gamma", "eta", "lambda", "epsilon", "mu", "rho", "tau", "kappa"):
            return None
        if letter[:1].isupper():
            return (self.shapes.fresh(), self.shapes.fresh())
        n = self.shapes.fresh()
        return (n, sp.S.One) if self.layout == "column" else (sp.S.One, n)

    def unify_shapes(self, a, b, what):
        """Two shapes made equal (a scalar is 1 x 1); ``what`` names them in the error."""
        if a is None and b is None:
            return
        a, b = a or (sp.S.One, sp.S.One), b or (sp.S.One, sp.S.One)
        message = (f"shape mismatch in {what}: {shape_text(self.shapes, a)} against {shape_text(self.shapes, b)} "
                   f"(in: {self.current})")
        for x, y in zip(a, b):
            self.shapes.unify(x, y, message.replace("{", "{{").replace("}", "}}"))

    def symbol_dims(self, e):
        """The shape of a symbol (first seen: by :meth:`kind_dims`); an indexed one is a sequence."""
        name = base_name(e)
        if name not in self.dims:
            self.dims[name] = self.kind_dims(name)
        if isinstance(e, sp.Indexed):
            self.sequences.add(name)
        return self.dims[name]

    def shape(self, e):
        """The shape of a model expression (None for a scalar), unifying sizes on the way."""
        if is_plain_number(e) or is_size(e):
            return None
        if is_variable(e):
            return self.symbol_dims(e)
        if e in (ONES,):
            return None
        if e == IDENTITY:
            n = self.shapes.fresh()
            return (n, n)
        if isinstance(e, sp.Add) or isinstance(e, hadamard):
            return self.common_shape(e)
        if isinstance(e, sp.Mul):
            return self.product_shape(e)
        return self.operation_shape(e)

    def common_shape(self, e):
        """``a + b`` and ``a \\odot b``: every term that is not a scalar has the same shape."""
        shapes = [s for s in map(self.shape, e.args) if s is not None]
        for s in shapes[1:]:
            self.unify_shapes(shapes[0], s, f"'{e}'")
        return shapes[0] if shapes else None

    def product_shape(self, e):
        r"""``A B``: cols(A) = rows(B), scalars aside; the product is rows(A) x cols(B). A root of a size scaling a
        product of two matrices (``Q K^\top / \sqrt{d_k}``) is the root of the size they contract over."""
        out, inner = None, []
        for f in e.args:
            s = self.shape(f)
            if s is None:
                continue
            if out is not None:
                message = (f"shape mismatch in the product '{e}': {shape_text(self.shapes, out)} times "
                           f"{shape_text(self.shapes, s)} (in: {self.current})")
                self.shapes.unify(out[1], s[0], message.replace("{", "{{").replace("}", "}}"))
                out, inner = (out[0], s[1]), [*inner, s[0]]
            else:
                out = s
        roots = [f.base for f in e.args if isinstance(f, sp.Pow) and is_size(f.base) and abs(f.exp) == sp.S.Half]
        if len(roots) == 1 and len(inner) == 1:
            message = (f"the product scaled by the root of the size {roots[0]} contracts over a size "
                       f"{{}}, not {{}} (in: {self.current.replace('{', '{{').replace('}', '}}')})")
            self.shapes.unify(inner[0], roots[0], message)
        return out

    def operation_shape(self, e):
        """The shape of a transpose, a power, a norm, a concatenation, diag, an activation, a sum or product."""
        if isinstance(e, transpose):
            s = self.shape(e.args[0])
            return None if s is None else (s[1], s[0])
        if isinstance(e, sp.Pow):
            if not is_plain_number(e.exp):
                self.refuse(f"only numeric powers are supported (and e^{{z}}, the exponential): {e}", e)
            return self.shape(e.base)
        if isinstance(e, norm):
            self.shape(e.args[0])
            return None
        if isinstance(e, concat):
            return self.concat_shape(e)
        if isinstance(e, sp.Function) and type(e).__name__ == "diag":
            s = self.shape(e.args[0])
            if s is None:
                raise ModelError(f"diag(...) needs a vector, not a number: {e}")
            return (s[0], s[0])
        if isinstance(e, sp.Function) and (activation_of(type(e).__name__) or type(e).__name__ in NORMALISED):
            return self.shape(e.args[0])
        if isinstance(e, sp.Function) and type(e).__name__ == "CE":
            return self.cross_entropy_shape(e)
        if isinstance(e, entry_sum):
            return self.entry_sum_shape(e)
        if isinstance(e, (sp.Sum, sp.Product)):
            return self.shape(e.function)
        self.refuse(f"cannot use {e} in a model equation (supported: + - products, transposes, \\odot, "
                    f"functions {', '.join(activation_words())}, softmax, CE, \\|v\\|^2, [a, b])", e)

    def refuse(self, message: str, construct) -> None:
        """Refuse ``construct`` of the equation being read, with a caret at its name (or its ``^``) when the
        equation shows it, else naming the equation."""
        position = construct_position(self.current, construct)
        if position is None:
            raise ModelError(f"{message} (in: {self.current})")
        raise LatexParseError(message, self.current, position)

    def cross_entropy_shape(self, e):
        r"""``\operatorname{CE}(o, y)``: logits and target of one shape; the loss is a scalar."""
        if len(e.args) != 2:
            raise ModelError(rf"the cross-entropy is written \operatorname{{CE}}(o, y) with the logits first: {e}")
        shapes = [self.shape(a) for a in e.args]
        if None in shapes:
            raise ModelError(f"the cross-entropy takes vectors (logits and a target), not numbers: {e}")
        self.unify_shapes(shapes[0], shapes[1], f"the cross-entropy {e}")
        return None

    def entry_sum_shape(self, e):
        r"""``\sum_k v_k``: v is a vector (a column, or a row in the row layout); the sum is a scalar."""
        s = self.shape(e.args[0])
        if s is not None:
            self.unify_shapes((s[0], sp.S.One) if self.layout == "column" else (sp.S.One, s[1]), s,
                              f"a sum over the entries of a vector ({e})")
        return None

    def concat_shape(self, e):
        """``[a, b]``: column vectors stacked, of the summed length."""
        parts = [self.shape(a) for a in e.args]
        if any(p is None for p in parts):
            raise ModelError(f"only vectors can be concatenated: {e}")
        for p in parts:
            self.shapes.unify(p[1], 1, "only column vectors can be concatenated ({} columns, not {})")
        return (sp.Add(*(p[0] for p in parts)), sp.S.One)


#: what needs more than scalars: a transpose, a norm, an entrywise product, a concatenation, a sum of entries
NOT_SCALAR = (transpose, norm, hadamard, concat, entry_sum)
#: the functions that normalise a vector's entries, by the reader's name
NORMALISED = ("softmax", "log_softmax", "softmax_rows")
#: functions of vectors
VECTOR_FUNCTIONS = ("diag", "CE", *NORMALISED)


def needs_more_than_scalars(e) -> bool:
    """Does ``e`` use an operation that only vectors or matrices need (or ``I``, ``\\mathbf{1}``)?"""
    return any(isinstance(node, NOT_SCALAR) or node in (IDENTITY, ONES)
               or (isinstance(node, sp.Function) and type(node).__name__ in VECTOR_FUNCTIONS)
               for node in sp.preorder_traversal(e))


def construct_position(text: str, construct) -> int | None:
    """Where ``construct`` (a call, or a power) starts in ``text``: its function's name, or the ``^``."""
    if isinstance(construct, sp.Pow):
        position = text.find("^")
        return position if position >= 0 else None
    if isinstance(construct, sp.Function):
        name = type(construct).__name__
        match = re.search(r"\\?\b" + re.escape(name) + r"\b", text)
        return match.start() if match else None
    return None
