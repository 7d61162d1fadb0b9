r"""The models of a notes file, assembled from its model equations in the order the file gives them.

A file may hold several models (a CNN section and an RNN section); they are kept apart by what they define:

* ``<!-- symderive: model NAME -->`` (``% symderive: model NAME``) puts what follows in the model NAME;
* otherwise a model equation joins the latest model that defines a symbol its right side uses;
* an equation that uses none (``h_t = \tanh(W h_{t-1} + U x_t + b)``, ``i_t = \sigma(...)``) joins the
  latest model while that one is still being written (no loss yet, no claim since its last equation), else
  starts a new one; and a symbol defined again (``h_t = ...`` once in columns, once in rows) starts a new one.

A heading alone does not end a model: posts put the model under one heading and its gradients under the next.
A claim is judged against the model whose symbols it uses most (the latest one on a tie).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symderive.judge.abstract import AbstractModel, has_abstract_call
from symderive.latex.index_model import looks_index_level
from symderive.latex.names import base_name
from symderive.latex.notes_file import readable

#: names a scalar loss is written with
LOSS_NAMES = frozenset({"L", "J", "E", "loss", "Loss"})


@dataclass
class NotesModel:
    """A model of the notes: its equations (readings of kind model), the definitions and shape declarations
    that go with it, and its name (an annotation's, else its number in the file)."""

    name: str
    annotated: bool = False
    equations: list = field(default_factory=list)
    definitions: list = field(default_factory=list)
    shapes: list = field(default_factory=list)
    ranges: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)  # line of a definition the model could not take -> why
    judge: object = None  # built when its first claim is judged (symderive.judge.notes_judges.judge_of)

    @property
    def defined(self) -> set:
        return {base_name(r.sides[0]) for r in self.equations}

    @property
    def names(self) -> set:
        return set().union(*(r.names for r in self.equations)) if self.equations else set()

    @property
    def has_loss(self) -> bool:
        return any(base_name(r.sides[0]) in LOSS_NAMES for r in self.equations)

    @property
    def last_line(self) -> int:
        return self.equations[-1].equation.line if self.equations else 0

    @property
    def abstract(self) -> bool:
        """A model of abstract functions (``h_t = f(x_t, h_{t-1}, w_h)``), judged by :mod:`symderive.judge.abstract`."""
        return any(has_abstract_call(r.sides[1]) for r in self.equations if base_name(r.sides[0]) not in LOSS_NAMES)

    @property
    def index_level(self) -> bool:
        """A model written entry by entry (``Y_{i,j} = \\sum_p \\sum_q K_{p,q} X_{i+p-1,j+q-1}``), judged by the
        index-level checker."""
        return looks_index_level([readable(t) for t in self.texts])

    @property
    def texts(self) -> list[str]:
        """The model's equations as LaTeX (``lhs = rhs``, as the file writes them)."""
        return [f"{r.equation.sides[0].text} = {r.equation.sides[1].text}" for r in self.equations]

    def abstract_model(self) -> AbstractModel:
        return AbstractModel(tuple((r.sides[0], r.sides[1]) for r in self.equations))

    def label(self) -> str:
        return f"model {self.name}"


class Models:
    """The models of a file as they are assembled, walking its equations in order."""

    def __init__(self):
        self.models: list[NotesModel] = []
        self.annotated: NotesModel | None = None
        self.last_claim_line = 0
        self.shapes: list[str] = []  # every 'symderive: shape' of the file; a model takes those of its symbols
        self.ranges: list[str] = []  # every 'symderive: range' (an index-level model takes them all)
        self.orphans: list = []  # (definition, its entry) met before any model that uses its symbols

    def annotate(self, name: str) -> None:
        """``symderive: model NAME``: what follows belongs to the model NAME (new, or one named before)."""
        found = [m for m in self.models if m.name == name]
        self.annotated = found[0] if found else self.new(name, annotated=True)

    def new(self, name: str | None = None, annotated: bool = False) -> NotesModel:
        model = NotesModel(name or str(sum(not m.annotated for m in self.models) + 1), annotated)
        self.models.append(model)
        return model

    def add(self, reading) -> NotesModel:
        """Put a model equation into its model (see the module's docstring) and return that model."""
        model = self.home(reading)
        model.equations.append(reading)
        return model

    def home(self, reading) -> NotesModel:
        if self.annotated is not None:
            return self.annotated
        lhs = base_name(reading.sides[0])
        uses = reading.names - {lhs}
        users = [m for m in self.models if m.defined & uses]
        if users:
            return users[-1] if lhs not in users[-1].defined else self.new()
        current = self.models[-1] if self.models else None
        if (current is not None and not current.has_loss and lhs not in current.defined
                and self.last_claim_line < current.last_line):
            return current
        return self.new()

    def of(self, names: set, line: int) -> NotesModel | None:
        """The model a claim or definition on ``line`` using ``names`` is about: the annotated one, else the one
        knowing most of its names (the latest begun before the line on a tie); None when none knows any."""
        if self.annotated is not None:
            return self.annotated
        scored = [(len(m.names & names), m.equations[0].equation.line <= line if m.equations else False, i, m)
                  for i, m in enumerate(self.models)]
        scored = [s for s in scored if s[0] > 0]
        return max(scored, key=lambda s: s[:3])[3] if scored else None
