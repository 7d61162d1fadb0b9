"""The verdict on one claim, at matrix and index level alike."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ClaimResult:
    """The verdict on one claim: "equal", "not_equal" or "error"."""

    claim: str
    verdict: str
    diagnosis: str = ""
    max_rel_error: float | None = None
    counterexample: dict | None = None
    method: str = ""
    correct: str = ""
    compared: int = 0  # the entries compared numerically (the evidence of "equal": never 0)

    @property
    def holds(self) -> bool:
        return self.verdict == "equal"

    def to_json(self) -> dict:
        """The result as JSON values (an infinite or undefined number as the text "inf", "-inf", "nan")."""
        return {"claim": self.claim, "verdict": self.verdict, "diagnosis": self.diagnosis,
                "max_rel_error": json_number(self.max_rel_error), "counterexample": json_numbers(self.counterexample),
                "method": self.method, "correct": self.correct}


def json_number(x):
    return str(x) if isinstance(x, float) and not math.isfinite(x) else x


def json_numbers(x):
    """``x`` (nested dicts and lists) with every infinite or undefined float as text."""
    if isinstance(x, dict):
        return {k: json_numbers(v) for k, v in x.items()}
    if isinstance(x, list):
        return [json_numbers(v) for v in x]
    return json_number(x)
