r"""The report of ``symderive check NOTES.md``: a line per equation, a summary, and the corrected copy.

One line per equation or chain step, ``FILE:LINE: VERDICT  FORMULA`` (the formula shortened), the diagnosis and
the corrected formula indented under a claim that does not hold, then the summary
``12 equations: 5 model, 1 definition, 4 hold, 1 does not hold, 1 not checked``.
"""
from __future__ import annotations

import re
from collections import Counter

from symderive.latex.notes_file import line_starts, normal_text

WIDTH = 90
HEADS = {"holds": "holds", "does_not_hold": "does not hold", "error": "cannot be checked"}


def shortened(latex: str, width: int = WIDTH) -> str:
    """``latex`` on one line, cut to ``width`` characters with `` ...`` when longer."""
    text = re.sub(r"\s+", " ", latex).strip()
    return text if len(text) <= width else text[: width - 4].rstrip() + " ..."


def head(entry) -> str:
    """The verdict as the line shows it: ``model (model 1)``, ``definition``, ``holds``, ``not checked (why)``."""
    if entry.kind in ("model", "definition"):
        return f"{entry.kind} ({entry.reason})" if entry.reason else entry.kind
    if entry.verdict == "not_checked":
        return f"not checked ({entry.reason})"
    return HEADS[entry.verdict]


def report_lines(entries, file: str) -> list[str]:
    """The report of ``entries`` for ``file``, a line per equation with what a wrong claim needs under it."""
    lines = []
    for e in entries:
        lines.append(f"{file}:{e.line}: {head(e)}  {shortened(e.latex)}")
        if e.verdict in ("does_not_hold", "error", "holds") and e.diagnosis:
            lines += ["    " + line for line in e.diagnosis.splitlines()]
        if e.verdict == "holds" and e.reason:
            lines.append(f"    {e.reason}")
        if e.correct:
            legend = "    (\\bar{v} denotes dL/dv)" if "\\bar{" in e.correct else ""
            lines.append(f"    correct: {e.correct}{legend}")
    return lines + [summary(entries)]


def summary(entries) -> str:
    """``N equations: a model, b definition(s), c hold, d do(es) not hold, e not checked[, f cannot be checked]``;
    an error of any kind (a definition the model cannot take, too) is counted once, as cannot be checked."""
    kinds = Counter(e.kind for e in entries if e.verdict != "error")
    verdicts = Counter(e.verdict for e in entries if e.kind in ("claim", "other") or e.verdict == "error")
    parts = [f"{kinds['model']} model", plural(kinds["definition"], "definition", "definitions"),
             plural(verdicts["holds"], "holds", "hold"), plural(verdicts["does_not_hold"], "does not hold",
                                                                 "do not hold"),
             f"{verdicts['not_checked']} not checked"]
    if verdicts["error"]:
        parts.append(f"{verdicts['error']} cannot be checked")
    return f"{plural(len(entries), 'equation', 'equations')}: {', '.join(parts)}"


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def exit_status(entries) -> int:
    """0 when every claim holds (or there is none), 1 when one does not hold or cannot be checked."""
    return 1 if any(e.verdict in ("does_not_hold", "error") for e in entries) else 0


def fixed_text(text: str, entries) -> tuple[str, int]:
    """``text`` with the right side of every claim that does not hold replaced by the correct formula, where the
    checker has one; and how many were replaced. Line endings stay as the file has them."""
    crlf = "\r\n" in text
    body = normal_text(text)
    starts = line_starts(body)
    replaced = 0
    for e in sorted((e for e in entries if e.verdict == "does_not_hold" and e.correct and e.side), key=lambda e:
                    -e.line):
        at = body.find(e.side.text, starts[e.side.line - 1])
        if at >= 0:
            body = body[:at] + e.correct + body[at + len(e.side.text):]
            replaced += 1
    if text.startswith("\ufeff"):
        body = "\ufeff" + body
    return (body.replace("\n", "\r\n") if crlf else body), replaced
