r"""From parsed LaTeX equations to a model program the engine derives.

The forward equations (``z = W x + b``, ``h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)``) become a
:class:`~symderive.model.Program`: a symbol subscripted by ``t`` on a left-hand side is a sequence
assigned at each step, one read at ``t-1`` is a recurrent state (its initial value ``h_0`` an
argument), every other symbol on a right-hand side is an argument (a weight, or data such as ``x_t``).
The last equation defines the scalar loss: ``L = \sum_{t=1}^{T} \ell_t`` for recurrent models, where
``\ell_t`` is defined by an earlier equation or stays abstract (``\ell(o_t, y_t)``: then it is taken as
``\frac12\|o_t - g_t\|^2`` with a hidden random ``g_t``, so that ``\partial\ell_t/\partial o_t`` is an
arbitrary vector and a claim must hold for every value of it).

Shapes are inferred by unification: ``A B`` needs cols(A) = rows(B); ``a + b`` and ``a \odot b`` need
equal shapes; a transpose swaps. ``--shape`` declarations fix sizes; otherwise an upper-case letter
is a matrix, a lower-case letter a vector (a column, or a row when the equations only fit rows:
``X_t W_{xh} + H_{t-1} W_{hh}``), an unassigned lower-case Greek letter a scalar.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symderive.errors import LatexParseError, ModelError, ShapeMismatchError, SymderiveError
from symderive.ops.nodes import Concat, Elementwise, SquaredNorm, TimeVar, T, t
from symderive.latex.parsed import IDENTITY, ONES, concat, hadamard, norm, transpose
from symderive.latex.reader import parse_sides
from symderive.model.program import Assign, Program

#: activation names as written -> the engine's activation
ACTIVATION_NAMES = {"sigma": "sigmoid", "sigmoid": "sigmoid", "sigma_g": "sigmoid", "tanh": "tanh", "sigma_c": "tanh",
                    "sigma_h": "tanh", "relu": "relu", "exp": "exp", "log": "log", "softplus": "softplus"}
LOSS_NAMES = ("ell", "l", "E", "J")
HIDDEN_TARGET = "g_ell"


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


# ---------------------------------------------------------------------------------------------
# Names.


def base_name(e) -> str:
    """The name of a symbol or of an indexed symbol's base."""
    if isinstance(e, sp.Indexed):
        return e.base.label.name
    return e.name


def is_variable(e) -> bool:
    return (isinstance(e, sp.Symbol) and not e.is_commutative and e not in (IDENTITY, ONES)) or isinstance(e, sp.Indexed)


def time_offset(index) -> int | None:
    """k for an index ``t + k``; None for an index that is not a time step of the generic t."""
    k = sp.expand(index - t)
    return int(k) if k.is_Integer else None


def as_label(e):
    """``W_i`` read as an index (i is an index letter) but meant as a label: the symbol ``W_i``."""
    return sp.Symbol(f"{base_name(e)}_{''.join(map(str, e.indices))}", commutative=False)


def relabel(expr):
    """In a model equation, every subscript that is not a time step (``W_i``, ``b_1``) is a label."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and (len(e.indices) != 1 or time_offset(e.indices[0]) is None),
                        as_label)


def split_declaration(text: str) -> tuple[str, list[str]]:
    """``'W_{hh}: n x n'`` -> (name, ['n', 'n'])."""
    if ":" not in text:
        raise LatexParseError("a shape is declared as 'NAME: ROWS x COLS' (or 'NAME: SIZE' for a vector, 'NAME: 1' for a scalar)", text, len(text))
    name_text, dims_text = text.split(":", 1)
    target = parse_sides(name_text.strip())
    if len(target) != 1 or not is_variable(target[0]):
        raise LatexParseError("the left side of a shape declaration must be one symbol", text, 0)
    for sep in (r"\times", "×", "*", ","):
        dims_text = dims_text.replace(sep, " x ")
    dims = [d.strip() for d in dims_text.split(" x ") if d.strip()]
    if not 1 <= len(dims) <= 2 or not all(d.isalnum() or d.replace("_", "").isalnum() for d in dims):
        raise LatexParseError("sizes are names or numbers separated by 'x' (e.g. 'n x d')", text, len(name_text) + 1)
    return base_name(target[0]), dims


# ---------------------------------------------------------------------------------------------
# The model.


@dataclass
class LatexModel:
    """A model read from LaTeX: its program, the sizes it was inferred at, and how names map."""

    program: Program
    dims: dict            # name -> (rows, cols) as size expressions (or None for a scalar)
    loss_name: str        # "L"
    step_loss: str | None  # "ell" when the per-step loss has a name
    abstract_loss: str | None  # the variable an abstract ell(o_t, ...) depends on
    notes: list = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return sorted(n for n in self.dims if n != HIDDEN_TARGET)


def read_equations(texts: list[str]) -> list[tuple]:
    """Every ``lhs = rhs`` of the options (several per option separated by ``\\\\`` or ``;``)."""
    out = []
    for text in texts:
        for part in split_equations(text):
            sides = parse_sides(part)
            if len(sides) != 2:
                raise LatexParseError("each model equation is 'LEFT = RIGHT'", part, 0)
            out.append((relabel(sides[0]), relabel(sides[1]), part))
    return out


def split_equations(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        c = text[i]
        depth += c in "{(["
        depth -= c in "})]"
        if depth == 0 and (c == ";" or text.startswith(r"\\", i)):
            parts.append(text[start:i])
            i += 2 if c == "\\" else 1
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def build_model(texts: list[str], declared: list[str] = ()) -> LatexModel:
    """The program of the model equations ``texts`` with the shape declarations ``declared``."""
    equations = read_equations(texts)
    if not equations:
        raise ModelError("give the model's equations with --model (the last one defines the loss)")
    declarations = dict(split_declaration(d) for d in declared)
    errors = []
    for layout in ("column", "row"):
        try:
            return Builder(equations, declarations, layout).build()
        except ShapeMismatchError as e:
            errors.append(e)
    raise errors[0]


class Builder:
    def __init__(self, equations, declarations, layout):
        self.equations, self.declarations, self.layout = equations, declarations, layout
        self.shapes = Shapes()
        self.dims: dict = {}
        self.sequences: set = set()
        self.notes: list = []

    # -- which symbol is what --------------------------------------------------------------
    def build(self) -> LatexModel:
        *steps, (loss_lhs, loss_rhs, loss_text) = self.equations
        if not is_variable(loss_lhs) or isinstance(loss_lhs, sp.Indexed):
            raise ModelError(f"the last equation defines the loss and its left side must be one symbol: {loss_text}")
        assigned, definitions = [], {}
        for lhs, rhs, text in steps:
            if not is_variable(lhs):
                raise ModelError(f"the left side of a model equation must be one symbol: {text}")
            if isinstance(lhs, sp.Indexed):
                if len(lhs.indices) != 1 or time_offset(lhs.indices[0]) != 0:
                    raise ModelError(f"write each step for a generic t (h_t = ...), not {lhs}: {text}")
                self.sequences.add(base_name(lhs))
            assigned.append(base_name(lhs))
            definitions[base_name(lhs)] = (lhs, rhs, text)
        recurrent = bool(self.sequences) or loss_rhs.has(sp.Sum)
        step_loss, abstract, loss_body = self.loss_body(loss_rhs, definitions, recurrent, loss_text)
        names = [n for n in assigned if n != step_loss]
        self.assigned = names
        for name in names:
            self.dims[name] = (self.shapes.fresh(), self.shapes.fresh())
        exprs = {}
        for name in names:
            lhs, rhs, text = definitions[name]
            self.current = text
            shape = self.shape(rhs)
            self.unify_shapes(self.dims[name], shape, f"{name} and its definition")
            exprs[name] = rhs
        self.current = loss_text
        if abstract is None:
            loss_shape = self.shape(loss_body)
            if loss_shape is not None:
                self.unify_shapes(loss_shape, ("1", "1"), "the loss (it must be a scalar)")
        else:
            self.shape(sp.Indexed(sp.IndexedBase(sp.Symbol(abstract, commutative=False)), t) if recurrent else sp.Symbol(abstract, commutative=False))
        return self.program(names, exprs, loss_body, abstract, recurrent, loss_lhs, step_loss)

    def loss_body(self, rhs, definitions, recurrent, text):
        """(name of the per-step loss, the variable of an abstract loss, the loss of one step)."""
        body = rhs
        if recurrent:
            if not (isinstance(rhs, sp.Sum) and rhs.limits[0][0] == t and rhs.limits[0][1] == 1 and rhs.limits[0][2] == T):
                raise ModelError(rf"a recurrent model's loss is written L = \sum_{{t=1}}^{{T}} \ell_t (got: {text})")
            body = rhs.function
        step_loss = None
        if body.atoms(sp.Function) and any(type(f).__name__ in LOSS_NAMES for f in body.atoms(sp.Function)):
            call = next(f for f in body.atoms(sp.Function) if type(f).__name__ in LOSS_NAMES)
            if not call.args or not is_variable(call.args[0]):
                raise ModelError(rf"an abstract loss is written \ell(o_t, y_t) with the output first (got: {text})")
            return type(call).__name__, base_name(call.args[0]), None
        if is_variable(body) and base_name(body) in LOSS_NAMES:
            step_loss = base_name(body)
            if step_loss in definitions:
                body = definitions[step_loss][1]
                calls = [f for f in body.atoms(sp.Function) if type(f).__name__ in LOSS_NAMES]
                if calls:
                    return step_loss, base_name(calls[0].args[0]), None
            else:
                last = [n for n in definitions if n in self.sequences or not recurrent][-1:]
                if not last:
                    raise ModelError(rf"the loss {step_loss} is not defined; define it (\ell_t = ...) or write \ell(o_t, y_t)")
                self.notes.append(rf"\{step_loss}_t is not defined: it is taken as an abstract loss of {last[0]}")
                return step_loss, last[0], None
        return step_loss, None, body

    # -- shapes -----------------------------------------------------------------------------
    def kind_dims(self, name: str):
        """The shape of an argument first seen: declared, or by the letter's case."""
        if name in self.declarations:
            dims = [sp.Integer(int(d)) if d.isdigit() else sp.Symbol(d, integer=True, positive=True) for d in self.declarations[name]]
            if dims == [1]:
                return None
            if len(dims) == 1:
                return (dims[0], sp.S.One) if self.layout == "column" else (sp.S.One, dims[0])
            return tuple(dims)
        letter = name.split("_")[0].split("^")[0].rstrip("'")
        if letter in ("alpha", "beta", "gamma", "eta", "lambda", "epsilon", "mu", "rho", "tau", "kappa"):
            return None
        if letter[:1].isupper():
            return (self.shapes.fresh(), self.shapes.fresh())
        n = self.shapes.fresh()
        return (n, sp.S.One) if self.layout == "column" else (sp.S.One, n)

    def unify_shapes(self, a, b, what):
        if a is None and b is None:
            return
        a, b = a or (sp.S.One, sp.S.One), b or (sp.S.One, sp.S.One)
        message = f"shape mismatch in {what}: {shape_text(self.shapes, a)} against {shape_text(self.shapes, b)} (in: {self.current})"
        for x, y in zip(a, b):
            self.shapes.unify(x, y, message.replace("{", "{{").replace("}", "}}"))

    def symbol_dims(self, e):
        name = base_name(e)
        if name not in self.dims:
            self.dims[name] = self.kind_dims(name)
        if isinstance(e, sp.Indexed):
            self.sequences.add(name)
        return self.dims[name]

    def shape(self, e):
        """The shape of a model expression (None for a scalar), unifying sizes on the way."""
        if e.is_number:
            return None
        if is_variable(e):
            return self.symbol_dims(e)
        if e in (ONES,):
            return None
        if e == IDENTITY:
            n = self.shapes.fresh()
            return (n, n)
        if isinstance(e, sp.Add) or isinstance(e, hadamard):
            shapes = [s for s in map(self.shape, e.args) if s is not None]
            for s in shapes[1:]:
                self.unify_shapes(shapes[0], s, f"'{e}'")
            return shapes[0] if shapes else None
        if isinstance(e, sp.Mul):
            out = None
            for f in e.args:
                s = self.shape(f)
                if s is None:
                    continue
                if out is not None:
                    message = (f"shape mismatch in the product '{e}': {shape_text(self.shapes, out)} times "
                               f"{shape_text(self.shapes, s)} (in: {self.current})")
                    self.shapes.unify(out[1], s[0], message.replace("{", "{{").replace("}", "}}"))
                    out = (out[0], s[1])
                else:
                    out = s
            return out
        if isinstance(e, transpose):
            s = self.shape(e.args[0])
            return None if s is None else (s[1], s[0])
        if isinstance(e, sp.Pow):
            if not e.exp.is_number:
                raise ModelError(f"only numeric powers are supported: {e}")
            return self.shape(e.base)
        if isinstance(e, norm):
            self.shape(e.args[0])
            return None
        if isinstance(e, concat):
            parts = [self.shape(a) for a in e.args]
            if any(p is None for p in parts):
                raise ModelError(f"only vectors can be concatenated: {e}")
            for p in parts:
                self.shapes.unify(p[1], 1, "only column vectors can be concatenated ({} columns, not {})")
            return (sp.Add(*(p[0] for p in parts)), sp.S.One)
        if isinstance(e, sp.Function) and type(e).__name__ == "diag":
            s = self.shape(e.args[0])
            return (s[0], s[0])
        if isinstance(e, sp.Function) and type(e).__name__ in ACTIVATION_NAMES | {"softmax": 0}:
            return self.shape(e.args[0])
        if isinstance(e, (sp.Sum, sp.Product)):
            return self.shape(e.function)
        raise ModelError(f"cannot use {e} in a model equation (supported: + - products, transposes, \\odot, "
                         f"activations {', '.join(sorted(ACTIVATION_NAMES))}, \\|v\\|^2, [a, b])")

    # -- the program ------------------------------------------------------------------------
    def size_names(self) -> dict:
        """Unknown sizes left after unification -> readable names (n_h: the length of h)."""
        out, used = {}, {str(s) for dims in self.dims.values() if dims for d in dims
                         for s in self.shapes.resolve(d).free_symbols if not s.name.startswith("_u")}
        assigned = getattr(self, "assigned", ())
        for name in sorted(self.dims, key=lambda n: (n[:1].isupper(), n not in assigned, n)):
            dims = self.dims[name]
            resolved = [self.shapes.resolve(d) for d in dims or ()]
            for axis, d in enumerate(resolved):
                for u in sorted(d.free_symbols, key=str):
                    if u.name.startswith("_u") and u not in out:
                        label = name.replace("^", "").replace("(", "").replace(")", "").replace("'", "p")
                        candidate = f"n_{label}" if resolved[1 - axis] == 1 else f"n_{label}_{'rc'[axis]}"
                        while candidate in used:
                            candidate += "_"
                        used.add(candidate)
                        out[u] = sp.Symbol(candidate, integer=True, positive=True)
        return out

    def final(self, dims):
        if dims is None:
            return None
        names = self.names_map
        return tuple(self.shapes.resolve(d).xreplace(names) for d in dims)

    def program(self, names, exprs, loss_body, abstract, recurrent, loss_lhs, step_loss) -> LatexModel:
        self.names_map = self.size_names()
        final = {name: self.final(dims) for name, dims in self.dims.items()}
        flat = [n for n, d in final.items() if n[:1].isupper() and n not in names and n not in self.sequences
                and n not in self.declarations and d is not None and 1 in d]
        if flat and self.layout == "column":
            raise ShapeMismatchError(f"{', '.join(sorted(flat))} would not be a matrix with column vectors")
        scalars = [n for n, d in final.items() if d is None]
        if scalars:
            raise ModelError(f"scalar parameters ({', '.join(sorted(scalars))}) are not supported in a model; "
                             "write their value as a number, or declare their shape with --shape")
        for name in names:
            if recurrent and name not in self.sequences:
                raise ModelError(f"{name} is assigned without a time index in a recurrent model; write {name}_t")
        convert = Converter(final, self.sequences, recurrent)
        assignments = tuple(Assign(convert.leaf(name, 0), convert(exprs[name])) for name in names)
        assigned = set(names)
        reads = convert.reads
        states = {n: sp.MatrixSymbol(f"{n}_0", *final[n]) for n in sorted(reads) if n in assigned and reads[n] & {-1}}
        bad = {n: k for n, ks in reads.items() for k in ks if k not in (0, -1) or (k == -1 and n not in assigned)}
        if bad:
            name = sorted(bad)[0]
            raise ModelError(f"{name} is read at t{bad[name]:+d}: a step may read its own values at t and a state at t-1")
        if abstract is not None:
            target = TimeVar(HIDDEN_TARGET, t, *final[abstract]) if recurrent else sp.MatrixSymbol(HIDDEN_TARGET, *final[abstract])
            final[HIDDEN_TARGET] = final[abstract]
            loss = sp.Rational(1, 2) * SquaredNorm(convert.leaf(abstract, 0) - target)
        else:
            loss = convert.loss(loss_body)
        params, inputs = [], []
        for name in sorted(final):
            if name in assigned or name in (HIDDEN_TARGET,):
                continue
            if name in self.sequences:
                inputs.append(TimeVar(name, t, *final[name]))
            else:
                params.append(sp.MatrixSymbol(name, *final[name]))
        if abstract is not None and recurrent:
            inputs.append(TimeVar(HIDDEN_TARGET, t, *final[HIDDEN_TARGET]))
        elif abstract is not None:
            inputs.append(sp.MatrixSymbol(HIDDEN_TARGET, *final[HIDDEN_TARGET]))
        try:
            program = Program(name="latex", assignments=assignments, params=tuple(params), inputs=tuple(inputs),
                              loss=loss, states=states)
        except SymderiveError:
            raise
        except Exception as e:  # SymPy's own shape checks
            raise ModelError(f"the model cannot be built: {e}") from None
        return LatexModel(program, final, base_name(loss_lhs), step_loss, abstract, self.notes)


class Converter:
    """Parsed expressions -> the engine's matrix expressions (MatMul, HadamardProduct, Elementwise, ...)."""

    def __init__(self, dims, sequences, recurrent):
        self.dims, self.sequences, self.recurrent = dims, sequences, recurrent
        self.reads: dict = {}

    def leaf(self, name, offset):
        shape = self.dims[name]
        if name in self.sequences:
            self.reads.setdefault(name, set()).add(offset)
            return TimeVar(name, t + offset, *shape)
        return sp.MatrixSymbol(name, *shape)

    def __call__(self, e):
        if e.is_number:
            return e
        if isinstance(e, sp.Indexed):
            k = time_offset(e.indices[0]) if len(e.indices) == 1 else None
            if k is None:
                raise ModelError(f"{e}: a model equation indexes sequences by t (h_t, h_{{t-1}})")
            return self.leaf(base_name(e), k)
        if is_variable(e):
            return self.leaf(e.name, 0)
        if isinstance(e, sp.Add):
            terms = [self(a) for a in e.args]
            shape = next((a.shape for a in terms if getattr(a, "is_Matrix", False)), None)
            terms = [a * sp.OneMatrix(*shape) if shape is not None and not getattr(a, "is_Matrix", False) else a for a in terms]
            return sp.MatAdd(*terms).doit() if shape is not None else sp.Add(*terms)
        if isinstance(e, sp.Mul):
            factors = [self(a) for a in e.args]
            return sp.MatMul(*factors).doit() if any(getattr(f, "is_Matrix", False) for f in factors) else sp.Mul(*factors)
        if isinstance(e, hadamard):
            return sp.HadamardProduct(*(self(a) for a in e.args)).doit()
        if isinstance(e, transpose):
            return sp.Transpose(self(e.args[0])).doit()
        if isinstance(e, sp.Pow):
            if isinstance(e.base, norm) and e.exp == 2:
                return SquaredNorm(self(e.base.args[0]))
            base = self(e.base)
            return sp.HadamardPower(base, e.exp) if getattr(base, "is_Matrix", False) else base ** e.exp
        if isinstance(e, concat):
            return Concat(*(self(a) for a in e.args))
        if isinstance(e, sp.Function) and type(e).__name__ == "diag":
            return sp.DiagMatrix(self(e.args[0]))
        if isinstance(e, sp.Function) and type(e).__name__ in ACTIVATION_NAMES:
            return Elementwise(ACTIVATION_NAMES[type(e).__name__], self(e.args[0]))
        raise ModelError(f"cannot use {e} in a model equation")

    def loss(self, body):
        """The scalar loss: a combination of squared norms."""
        value = self(body)
        if getattr(value, "is_Matrix", False) or not value.has(SquaredNorm):
            raise ModelError(r"the loss must be built from squared norms (L = \frac{1}{2}\|a - y\|^2) or be an "
                             r"abstract \ell(o_t, y_t); other losses are not supported yet")
        return value

