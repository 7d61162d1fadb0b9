"""The verification report: one row per verified quantity, printed as a table."""
from __future__ import annotations

from dataclasses import dataclass, field

ATOL, RTOL, REL_TOL = 1e-5, 1e-3, 1e-7  # allclose at torch gradcheck's tolerances; a norm-relative error bound


@dataclass(frozen=True)
class Row:
    """One verified quantity. ``symbolic`` is None where the check does not apply."""

    quantity: str
    symbolic: bool | None
    rel_error: float
    max_error: float
    allclose: bool
    reference: str = "-"

    @property
    def passed(self) -> bool:
        return (self.symbolic is not False and self.allclose and self.rel_error <= REL_TOL
                and "FAIL" not in self.reference.split())  # "torch FAIL 1e-01"


@dataclass
class Report:
    derivation: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def table(self) -> str:
        head = ("quantity", "symbolic", "rel. error", "max error", "allclose", "reference", "result")
        rows = [head] + [(r.quantity, {None: "n/a", True: "pass", False: "FAIL"}[r.symbolic],
                          f"{r.rel_error:.1e}", f"{r.max_error:.1e}", "yes" if r.allclose else "NO",
                          r.reference, "pass" if r.passed else "FAIL") for r in self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "all checks passed" if self.passed else "SOME CHECKS FAILED"
        return "\n".join([f"verify {self.derivation}", *lines, *self.notes, verdict])
