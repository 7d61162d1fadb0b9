"""A PyTorch program printed from a model: the external reference of verification for any model.

The program is source a person can read and run: a function ``loss`` of the model's arguments (float64
tensors, shaped as the exported module's ``SHAPES``) that reshapes them to the model's matrices, runs the
forward assignments in order (inside a loop over t for a recurrent model, every state starting from its
initial value and every sequence indexed by step) and returns the loss (summed over t); and ``grad``,
``torch.autograd.grad`` of that loss with respect to every argument. Each node prints through
:class:`~symderive.verify.torch_printer.TorchPrinter` and each elementwise function through the torch
equivalent it registers, so nothing of the derivation (no VJP rule, no derived formula, no interpreter of
ours) takes part: torch computes its own gradients of the model as written.

    >>> print(torch_program_source(sd.derivation("rnn").program))
"""
from __future__ import annotations

import keyword

from symderive.errors import ModelError
from symderive.matrix.numpy_printer import identifier
from symderive.model.program import Program, arguments, key, size_names
from symderive.ops.nodes import TimeVar, time_vars
from symderive.verify.torch_printer import POWER, SUM, TorchPrinter

#: Names the printed program uses itself; a model value named so is printed with a trailing underscore.
RESERVED = {"torch", "L", "t", "T", "loss", "grad", "range", "dict", "enumerate", "ARGUMENTS", "arrays", "leaves",
            "gradients", "name"}


def torch_program_source(program: Program) -> str:
    """The printed program of ``program``: a module docstring, ``import torch``, ``ARGUMENTS`` (the
    argument names, in the exported module's order), ``loss(...)`` and ``grad(**arrays)``."""
    names = python_names(program)
    printer = TorchPrinter({"names": names, "sizes": {size: names[size] for size in size_symbols(program)}})
    body = [*size_lines(program, names), *argument_lines(program, names, printer),
            *forward_lines(program, names, printer)]
    args = [names[key(v)] for v in arguments(program)]
    return "\n".join([
        f'"""The model {identifier(program.name)} as a PyTorch program, printed by symderive from its equations.',
        "",
        "loss(...) computes the model's loss as written (summed over t for a recurrent model) on float64",
        "tensors shaped as the exported module's SHAPES; grad(**arrays) is torch.autograd.grad of that loss",
        'with respect to every argument."""',
        "import torch",
        "",
        f"ARGUMENTS = {tuple(args)!r}",
        "",
        "",
        f"def loss({', '.join(args)}):",
        f'    """The loss of the model {identifier(program.name)}."""',
        *(f"    {line}" for line in body),
        "",
        "",
        GRAD,
    ])


GRAD = '''def grad(**arrays):
    """dL/d(argument) for every argument of ARGUMENTS, by torch.autograd.grad of loss, in float64."""
    leaves = {name: torch.tensor(arrays[name], dtype=torch.float64, requires_grad=True) for name in ARGUMENTS}
    gradients = torch.autograd.grad(loss(**leaves), tuple(leaves.values()), materialize_grads=True)
    return dict(zip(ARGUMENTS, gradients))
'''


def python_names(program: Program) -> dict[str, str]:
    """Model name (of a value or a size) -> a Python identifier for it, distinct from the program's own
    names and from keywords."""
    values = [key(v) for v in (*arguments(program), *(a.target for a in program.assignments))]
    out = {"T": "T"} if program.recurrent else {}  # the number of steps, read off the sequences
    for name in (*values, *map(str, program.dims())):
        python = identifier(name)
        out[name] = python + "_" if python in RESERVED or keyword.iskeyword(python) else python
    clash = sorted({n for n in out.values() if list(out.values()).count(n) > 1})
    if clash:
        raise ModelError(f"the torch program cannot name two values {', '.join(clash)}: rename one of them")
    return out


def size_symbols(program: Program) -> list[str]:
    """The names of the program's sizes, and T for a recurrent program."""
    return [*map(str, program.dims()), *(["T"] if program.recurrent else [])]


def size_lines(program: Program, names: dict) -> list[str]:
    """``n = W.shape[0]`` for every size, read off the first argument with an axis of that size."""
    wanted = set(size_symbols(program))
    lines = {}
    for v in arguments(program):
        for axis, size in enumerate(size_names(v)):
            if size in wanted and size not in lines:
                lines[size] = f"{names[size]} = {names[key(v)]}.shape[{axis}]"
    missing = sorted(wanted - set(lines))
    if missing:
        raise ModelError(f"the torch program cannot read the size {', '.join(missing)} off the arguments: "
                         "no argument has an axis of exactly that size" + (" (T comes from a sequence x_t)"
                                                                             if "T" in missing else ""))
    return list(lines.values())


def argument_lines(program: Program, names: dict, printer: TorchPrinter) -> list[str]:
    """Each argument as the model's matrix: vectors as columns (or rows), a sequence as a dict by step
    (``x[t]`` is ``x_t``, step 1 first)."""
    lines = []
    for v in arguments(program):
        name, shape = names[key(v)], ", ".join(printer.doprint(s) for s in v.shape)
        if isinstance(v, TimeVar):
            lines.append(f"{name} = dict(enumerate({name}.reshape(T, {shape}), start=1))")
        elif size_names(v) != tuple(str(s) for s in v.shape):
            lines.append(f"{name} = {name}.reshape({shape})")
    return lines


def forward_lines(program: Program, names: dict, printer: TorchPrinter) -> list[str]:
    """The assignments in order and the loss: straight code, or a loop over t summing the loss."""
    if not program.recurrent:
        return [f"{names[key(a.target)]} = {printer.doprint(a.expr)}" for a in program.assignments] + \
            [f"return {loss_code(program.loss, printer)}"]
    check_forward_in_time(program)
    values = [names[key(a.target)] for a in program.assignments if key(a.target) not in program.states]
    lines = [f"{names[state]} = {{0: {printer.doprint(initial)}}}" for state, initial in program.states.items()]
    lines += [f"{name} = {{}}" for name in values]
    lines += ["L = torch.zeros((), dtype=torch.float64)", "for t in range(1, T + 1):"]
    lines += [f"    {printer.doprint(a.target)} = {printer.doprint(a.expr)}" for a in program.assignments]
    negated = not getattr(program.loss, "is_Matrix", False) and program.loss.could_extract_minus_sign()
    step = f"L - {printer.operand(-program.loss, SUM)}" if negated else f"L + {loss_code(program.loss, printer)}"
    return lines + [f"    L = {step}", "return L"]


def check_forward_in_time(program: Program) -> None:
    """The loop runs t = 1..T, so each step reads values of step t, and states of step t-1."""
    for a in program.assignments:
        for v in time_vars(a.expr):
            if v.offset != 0 and not (v.offset == -1 and v.name in program.states):
                raise ModelError(f"the torch program runs the steps forward in time, but {key(a.target)} reads "
                                 f"{v.name} at {v.time}")


def loss_code(loss, printer: TorchPrinter) -> str:
    """The scalar loss; of a 1 x 1 matrix, its entry."""
    if getattr(loss, "is_Matrix", False):
        return printer.operand(loss, POWER) + "[0, 0]"
    return printer.doprint(loss)
