"""The numba backend: the NumPy module with its loops over time steps compiled by numba.

The NumPy module (``Derivation.module_source``) is the one source of truth; this backend rewrites it.
Every ``for t`` loop of a generated function whose variables are its own (each assigned in the loop
before it is read there, and read nowhere else) is *lifted* into a kernel: a module-level function of
the arrays and sizes the loop reads; the loop's place calls it. Loops do their work in place
(``np.add(a, b, out)``, ``row += W h``), so the arrays the kernel writes are the caller's. Each kernel
comes twice: the loop exactly as NumPy runs it, and the loop for ``numba.njit``, in which a conditional
expression (``(W δ if carry[t] else 0.0)``) is an ``if`` statement (numba cannot give an array and a
number one type), ``np.tanh`` is the prelude's compiled ``_tanh`` and a helper (``_sigmoid``) its
compiled copy. A weight's transpose bound before a loop is copied into rows (numba's product with a
transposed view is slower). A loop that carries a variable from one pass to the next (the
window-truncated backward pass's ``prev_*``) stays in Python: it runs over all steps at once already.

Which of the two a kernel runs, and what happens when numba cannot compile it: see
:mod:`symderive.export.numba_prelude`.
"""
from __future__ import annotations

import ast
import builtins
import copy
import re

from symderive.errors import ExportError
from symderive.export.numba_prelude import PRELUDE

# ``_W_T = W.T``: a weight's transpose bound before a loop, read only; copied into rows for the
# compiled products (a product with a transposed view is ~40% slower in numba's BLAS call).
TRANSPOSED = re.compile(r"^(\s*_\w+_T) = (\w+)\.T$", re.MULTILINE)


def numba_source(source: str) -> str:
    """The NumPy module ``source`` with every self-contained loop of its functions lifted into a
    compiled kernel (see the module docstring); a module with no such loop is refused."""
    tree = ast.parse(source)
    helpers = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    lines = source.split("\n")
    kernels, edits, jitted = [], [], set()
    for fn in helpers.values():
        for number, loop in enumerate(liftable_loops(fn, helpers), start=1):
            name = f"_{fn.name.lstrip('_')}_loop{number}"
            args = loop_arguments(loop, fn)
            called = helpers_called(loop, helpers)
            jitted |= called
            kernels.append(kernel_text(loop, name, args, called, f"loop {number} of {fn.name}"))
            edits.append((loop.lineno, loop.end_lineno, f"{name}({', '.join(args)})"))
    if not kernels:
        raise ExportError("this model has no loop over time steps, so the numba backend has nothing to compile; "
                          "export it without --backend (the NumPy module)")
    for start, end, call in sorted(edits, reverse=True):
        indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
        lines[start - 1:end] = [indent + call]
    return with_kernels("\n".join(lines), kernels, [helper_text(helpers[h]) for h in sorted(jitted)])


def with_kernels(text: str, kernels: list[str], helpers: list[str]) -> str:
    """The module text with the prelude after ``import numpy as np``, and the compiled helpers and the
    kernels at its end."""
    text = text.replace("(NumPy only; works at any size)",
                        "(NumPy, its loops over time steps compiled by numba; works at any size)", 1)
    head, sep, rest = text.partition("import numpy as np\n")
    body = TRANSPOSED.sub(r"\1 = np.ascontiguousarray(\2.T)", rest.rstrip("\n"))
    return head + sep + PRELUDE + body + "\n\n\n" + "\n\n\n".join(helpers + kernels) + "\n"


def liftable_loops(fn: ast.FunctionDef, helpers: dict) -> list[ast.For]:
    """The outermost ``for`` loops of ``fn`` whose variables are their own, in the order of the source."""
    out = []

    def visit(body):
        for stmt in body:
            if is_time_loop(stmt) and self_contained(stmt, fn, helpers):
                out.append(stmt)
            elif isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, block, []))

    visit(fn.body)
    return out


def is_time_loop(stmt) -> bool:
    """``for t in ...``: a loop over the time steps (the generator names the step ``t``)."""
    return isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name) and stmt.target.id == "t"


def self_contained(loop: ast.For, fn: ast.FunctionDef, helpers: dict) -> bool:
    """Is every variable the loop assigns assigned before it is read in the loop and read nowhere
    outside it, and every global it reads ``np`` or a helper of the module?"""
    stored = assigned_names(loop)
    if stored & names_read_outside(fn, loop) or read_before_assigned(loop):
        return False
    globals_read = loaded_names(loop) - stored - bound_names(fn) - set(dir(builtins))
    return globals_read <= {"np"} | set(helpers) and all(simple_helper(helpers[h], helpers)
                                                         for h in globals_read - {"np"})


def names_read_outside(fn: ast.FunctionDef, loop: ast.For) -> set[str]:
    """The names ``fn`` reads outside ``loop``, but for what another time loop reads of its own variables
    (each assigned there before it is read: the lean and the full loop both have a row ``_h_row``)."""
    others = [node for node in ast.walk(fn) if is_time_loop(node) and node is not loop]
    inside = {id(node) for other in [loop, *others] for node in ast.walk(other)}
    out = {n.id for n in ast.walk(fn) if id(n) not in inside and isinstance(n, ast.Name)
           and isinstance(n.ctx, ast.Load)}
    for other in others:
        own = set() if read_before_assigned(other) else assigned_names(other)
        out |= loaded_names(other) - own
    return out


def simple_helper(helper: ast.FunctionDef, helpers: dict) -> bool:
    """A helper numba can compile on its own: it calls no other helper of the module."""
    return not (loaded_names(helper) & (set(helpers) - {helper.name}))


def assigned_names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def loaded_names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def bound_names(fn: ast.FunctionDef) -> set[str]:
    """The arguments of ``fn`` and every name it assigns (its local variables)."""
    return {a.arg for a in fn.args.args + fn.args.kwonlyargs} | assigned_names(fn)


def read_before_assigned(loop: ast.For) -> bool:
    """Does a pass of the loop read a variable of the loop before assigning it (a value carried over from
    the previous pass)?"""
    stored, seen = assigned_names(loop), assigned_names(loop.target)
    for name, writes in uses_in_order(loop.body):
        if name in stored and not writes and name not in seen:
            return True
        if writes:
            seen.add(name)
    return False


def uses_in_order(body: list) -> list[tuple[str, bool]]:
    """``(name, written)`` for every name of the statements, in the order Python evaluates them (an
    assignment reads its right side, then its target; ``x += e`` reads x before writing it)."""
    out = []
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            out += uses(stmt.value) + [u for target in stmt.targets for u in uses(target)]
        elif isinstance(stmt, ast.AugAssign):
            target = uses(stmt.target)
            out += uses(stmt.value) + [(name, False) for name, _ in target] + target
        elif isinstance(stmt, (ast.If, ast.While)):
            out += uses(stmt.test) + uses_in_order(stmt.body) + uses_in_order(stmt.orelse)
        elif isinstance(stmt, ast.For):
            out += uses(stmt.iter) + uses(stmt.target) + uses_in_order(stmt.body) + uses_in_order(stmt.orelse)
        else:
            out += uses(stmt)
    return out


def uses(node) -> list[tuple[str, bool]]:
    return [(n.id, isinstance(n.ctx, ast.Store)) for n in ast.walk(node) if isinstance(n, ast.Name)]


def loop_arguments(loop: ast.For, fn: ast.FunctionDef) -> list[str]:
    """The variables of ``fn`` the loop reads, in the order of their first reading."""
    stored, bound, out = assigned_names(loop), bound_names(fn), []
    for node in ast.walk(loop):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bound - stored:
            if node.id not in out:
                out.append(node.id)
    return out


def helpers_called(loop: ast.For, helpers: dict) -> set[str]:
    return loaded_names(loop) & set(helpers)


class _Conditionals(ast.NodeTransformer):
    """A statement holding ``(a if c else b)`` becomes ``if c: <statement with a> else: <statement with b>``
    (numba cannot give ``a`` and ``b`` one type when one is an array and the other a number)."""

    def generic_visit(self, node):
        node = super().generic_visit(node)
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.If, ast.For, ast.While)):
            choice = next((n for n in ast.walk(node) if isinstance(n, ast.IfExp)), None)
            if choice is not None:
                otherwise = self.visit(replaced(node, choice, choice.orelse))
                return ast.If(test=choice.test, body=[self.visit(replaced(node, choice, choice.body))],
                              orelse=[] if adds_zero(otherwise) else [otherwise])
        return node


def adds_zero(stmt) -> bool:
    """``x += 0.0``: nothing to do."""
    return isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) and \
        isinstance(stmt.value, ast.Constant) and stmt.value.value == 0.0


def replaced(stmt, old, new):
    """A copy of ``stmt`` with its sub-expression ``old`` replaced by ``new``."""
    position = next(k for k, node in enumerate(ast.walk(stmt)) if node is old)
    copied = copy.deepcopy(stmt)
    target = list(ast.walk(copied))[position]

    class Swap(ast.NodeTransformer):
        def visit(self, node):
            return copy.deepcopy(new) if node is target else super().visit(node)

    return Swap().visit(copied)


def kernel_text(loop: ast.For, name: str, args: list[str], called: set[str], where: str) -> str:
    """The kernel's source: the loop as NumPy runs it (``name``), the loop for numba (``name_numba``:
    conditional expressions as ``if`` statements, ``np.tanh`` as ``_tanh``, helpers compiled), and the
    ``_Kernel`` that runs one of them."""
    compiled = for_numba(_Conditionals().visit(copy.deepcopy(loop)), called)
    texts = [function_text(name, args, [ast.Expr(ast.Constant(f"{where}, as NumPy runs it.")), loop]),
             function_text(f"{name}_numba", args, [ast.Expr(ast.Constant(f"{where}, for numba.")), compiled])]
    return "\n\n\n".join(texts) + f"\n\n\n{name} = _Kernel({name}_numba, {name}, {where!r})"


def helper_text(helper: ast.FunctionDef) -> str:
    """A helper the loops call, for numba: ``name_jit``, compiled (it calls no other helper: ``simple_helper``)."""
    body = [for_numba(copy.deepcopy(stmt), set()) for stmt in helper.body]
    text = function_text(f"{helper.name}_jit", [a.arg for a in helper.args.args], body, helper.args.defaults)
    return text + f"\n\n\n{helper.name}_jit = numba.njit(cache=_CACHE, error_model=\"numpy\")({helper.name}_jit)"


def for_numba(node, called: set[str]):
    """``node`` with ``np.tanh`` read as the compiled ``_tanh`` and each helper in ``called`` as its
    compiled version."""
    class Rename(ast.NodeTransformer):
        def visit_Attribute(self, a):
            is_tanh = isinstance(a.value, ast.Name) and a.value.id == "np" and a.attr == "tanh"
            return ast.Name(id="_tanh", ctx=ast.Load()) if is_tanh else self.generic_visit(a)

        def visit_Name(self, n):
            return ast.Name(id=f"{n.id}_jit", ctx=n.ctx) if n.id in called else n

    return ast.fix_missing_locations(Rename().visit(node))


def function_text(name: str, args: list[str], body: list, defaults=()) -> str:
    """``def name(args): body``, the last arguments with ``defaults`` (expressions)."""
    fn = ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[ast.arg(a) for a in args],
                                                       kwonlyargs=[], kw_defaults=[],
                                                       defaults=copy.deepcopy(list(defaults))),
                         body=body, decorator_list=[], returns=None, type_params=[])
    return ast.unparse(ast.fix_missing_locations(fn))
