r"""``symderive check NOTES.md``: every equation of a notes file, read and judged, each with its line.

The steps: read the file's formulas (:mod:`symderive.latex.notes_file`), classify each equation
(:mod:`symderive.judge.notes_classify`), assemble the models from the model equations in the file's order
(:mod:`symderive.judge.notes_models`), then judge every claim against its model — a model is a user model as
``--model`` gives one, a definition is a ``--where``, a claim a ``--claim`` (:mod:`symderive.judge.check`); a model
of abstract functions (d2l's ``h_t = f(x_t, h_{t-1}, w_h)``) is judged by :mod:`symderive.judge.abstract`.

A chain ``A &= B \\ &= C \\ &= D`` is a claim per step: ``A = B``, ``B = C``, ``C = D``. With ``A`` the derivative,
each ``A = X`` is judged; a step holds when both its sides equal the derivative, does not hold when exactly one
does, and when neither does, its two sides are compared with each other (``A = A + C - B``).
"""
from __future__ import annotations

from dataclasses import dataclass

from symderive.errors import LatexParseError, SymderiveError
from symderive.judge.check import ClaimResult
from symderive.judge.notes_classify import CLAIM, DEFINITION, MODEL, OTHER, Reading, classify
from symderive.judge.notes_judges import judge_of
from symderive.judge.notes_models import Models
from symderive.judge.notes_ranges import notes_hint
from symderive.latex.names import base_name
from symderive.latex.notes_file import Annotation, Equation, Side, equations_of, read_notes

HOLDS, DOES_NOT_HOLD, NOT_CHECKED, ERROR = "holds", "does_not_hold", "not_checked", "error"


@dataclass
class Entry:
    """One line of the report: an equation, or one step of a chain."""

    line: int
    kind: str
    latex: str
    verdict: str = NOT_CHECKED
    diagnosis: str | None = None
    correct: str | None = None
    reason: str | None = None
    side: Side | None = None  # the side a correction replaces (the right side of a claim's step)
    inline: bool = False  # an inline definition, reported when a claim uses the name it ``defines``
    defines: str = ""

    def to_json(self) -> dict:
        return {"line": self.line, "kind": self.kind, "verdict": self.verdict, "latex": self.latex,
                "diagnosis": self.diagnosis, "correct": self.correct, "reason": self.reason}


@dataclass
class Pending:
    """A claim waiting for its model to be complete: its reading, the model, and its entries (one per step)."""

    reading: Reading
    model: object
    entries: list
    anchor: int  # the index of the side that is the derivative every step is compared with


def check_notes(text: str, fmt: str) -> list[Entry]:
    """Every equation of the notes ``text`` (``fmt`` "md" or "tex"), judged, in the order of the file."""
    notes = read_notes(text, fmt)
    models, entries, pending = Models(), unclosed_entries(notes), []
    adjoints: set = set()
    skip = other = False
    for item in notes.in_order():
        if isinstance(item, Annotation):
            skip, other = apply_annotation(item, models, skip, other)
            continue
        for equation in equations_of(item):
            if not item.display:
                entries += inline_definition(classify(equation, adjoints), models, adjoints)
            elif skip or other:
                entries.append(Entry(equation.line, OTHER, equation.text, reason="marked 'symderive: "
                                     f"{'skip' if skip else 'other'}' in the file"))
            else:
                entries += place(classify(equation, adjoints), models, adjoints, pending)
        if item.display:  # an annotation 'skip' or 'other' is about the next display formula
            skip = other = False
    for model in models.models:
        model.shapes, model.ranges = list(models.shapes), list(models.ranges)
    adopt_orphans(models)
    for claim in pending:
        judge_claim(claim, fmt)
    mark_refused_definitions(models, entries)
    used = set().union(*(p.reading.names for p in pending)) if pending else set()
    return sorted((e for e in entries if not e.inline or e.defines in used), key=lambda e: e.line)


def unclosed_entries(notes) -> list[Entry]:
    """An error per display block never closed; bad input (exit 2) when nothing else can be read."""
    if notes.unclosed and not notes.formulas:
        line, message = notes.unclosed[0]
        raise LatexParseError(f"line {line}: {message}")
    return [Entry(line, OTHER, message.split(" is never")[0].removeprefix("this "), verdict=ERROR, diagnosis=message)
            for line, message in notes.unclosed]


def apply_annotation(annotation, models: Models, skip: bool, other: bool) -> tuple[bool, bool]:
    """An annotation's effect: a model to put what follows in, a shape for the current model, or the next
    formula skipped or listed as other."""
    if annotation.kind == "model":
        models.annotate(annotation.value)
    elif annotation.kind in ("shape", "range"):
        getattr(models, annotation.kind + "s").append(annotation.value)
    return skip or annotation.kind == "skip", other or annotation.kind == "other"


def place(reading: Reading, models: Models, adjoints: set, pending: list) -> list[Entry]:
    """The entries of one equation, its model equation or definition given to its model, its claims queued."""
    eq = reading.equation
    if reading.kind == MODEL:
        model = models.add(reading)
        entries = [Entry(eq.line, MODEL, f"{eq.sides[0].text} = {eq.sides[1].text}", reason=model.label())]
        return entries + [step_entry(eq, k, OTHER, reason="a step of a chain that is not about a derivative")
                          for k in range(2, len(eq.sides))]
    if reading.kind == DEFINITION:
        model = models.of(reading.names, eq.line)
        adjoints.add(base_name(reading.sides[0]))
        entry = Entry(eq.line, DEFINITION, f"{eq.sides[0].text} = {eq.sides[1].text}",
                      reason="no model in the file uses its symbols")
        if model is not None:
            model.definitions.append(reading)
            entry.reason = model.label()
        else:
            models.orphans.append((reading, entry))
        return [entry] + queue(reading, models, pending, anchor=1)
    if reading.kind == CLAIM:
        models.last_claim_line = eq.line
        return queue(reading, models, pending, anchor=0)
    if reading.error:
        return [Entry(eq.line, OTHER, eq.text, verdict=ERROR, diagnosis=reading.error)]
    return [Entry(eq.line, OTHER, eq.text, reason=reading.reason)]


def queue(reading: Reading, models: Models, pending: list, anchor: int) -> list[Entry]:
    """The entries of a claim's steps (after ``anchor``), queued to be judged when every model is complete."""
    eq = reading.equation
    entries = [step_entry(eq, k, CLAIM) for k in range(anchor + 1, len(eq.sides))]
    if reading.error:
        for entry in entries:
            entry.verdict, entry.diagnosis = ERROR, reading.error
        return entries
    model = models.of(reading.names, eq.line)
    if model is None:
        for entry in entries:
            entry.verdict, entry.reason = NOT_CHECKED, "no model in the file defines its symbols"
        return entries
    pending.append(Pending(reading, model, entries, anchor))
    return entries


def step_entry(eq: Equation, k: int, kind: str, reason: str | None = None) -> Entry:
    """The entry of the step ``sides[k-1] = sides[k]``, on the line the step starts."""
    return Entry(eq.sides[k].line if k > 1 else eq.line, kind, f"{eq.sides[k - 1].text} = {eq.sides[k].text}",
                 reason=reason, side=eq.sides[k])


def inline_definition(reading: Reading, models: Models, adjoints: set) -> list[Entry]:
    r"""An inline definition (``$\delta_t = \frac{\partial L}{\partial h_t}$`` in the prose), given to its model;
    other inline math is not read. Its entry is reported only when a claim uses the name it defines."""
    if reading.kind != DEFINITION or len(reading.sides) != 2:
        return []
    entries = place(reading, models, adjoints, [])
    for entry in entries:
        entry.inline, entry.defines = True, base_name(reading.sides[0])
    return entries


def adopt_orphans(models: Models) -> None:
    """Definitions written before any model that uses their symbols (in the prose above the model), given to the
    model whose symbols they use most, now that every model is complete."""
    models.annotated = None
    for reading, entry in models.orphans:
        model = models.of(reading.names, reading.equation.line)
        if model is not None:
            model.definitions.append(reading)
            entry.reason = model.label()


def mark_refused_definitions(models: Models, entries: list) -> None:
    """A definition its model could not take (``\\delta = ...`` of a value it does not have) is an error, with why."""
    refused = {line: message for model in models.models for line, message in model.refused.items()}
    for entry in entries:
        if entry.kind == DEFINITION and entry.line in refused:
            entry.verdict, entry.diagnosis = ERROR, refused[entry.line]


def judge_claim(claim: Pending, fmt: str) -> None:
    """Judge each step of a claim (see the module's docstring)."""
    try:
        judge = judge_of(claim.model)
    except SymderiveError as e:
        for entry in claim.entries:
            entry.verdict, entry.diagnosis = ERROR, f"its model ({claim.model.label()}) cannot be read: " + notes_hint(
                str(e), fmt)
        return
    sides = claim.reading.equation.sides
    anchor = sides[claim.anchor].text
    against = [None] + [judge.judge(f"{anchor} = {s.text}") for s in sides[claim.anchor + 1:]]
    for k, entry in enumerate(claim.entries, start=1):
        fill(entry, against[k], against[k - 1], judge, anchor, sides[claim.anchor + k - 1].text)


def fill(entry: Entry, result: ClaimResult, before: ClaimResult | None, judge, anchor: str, previous: str) -> None:
    """The verdict of one step from the verdicts of its two sides against the derivative."""
    if result.verdict == "error":
        entry.verdict, entry.diagnosis = ERROR, result.diagnosis
        return
    if before is None or before.holds or result.holds or before.verdict == "error":
        entry.verdict = HOLDS if result.holds and (before is None or before.holds) else DOES_NOT_HOLD
        if before is not None and not before.holds and result.holds:
            entry.diagnosis = "the line above does not hold; this one equals the derivative"
        elif not result.holds:
            entry.diagnosis, entry.correct = result.diagnosis, result.correct or None
        return
    step = judge.judge(f"{anchor} = {anchor} + ({entry.side.text}) - ({previous})")
    entry.verdict = HOLDS if step.holds else DOES_NOT_HOLD
    entry.reason = "both sides differ from the derivative (a mistake carried from a step above)" if step.holds else None
    if not step.holds:
        entry.diagnosis, entry.correct = result.diagnosis, result.correct or None
