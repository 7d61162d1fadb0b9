r"""The gradient and adjoint equations of a rendered document, as claims for the checker.

Read from the LaTeX as a reader of the notes would copy them: each row of an ``align*`` whose left
side is a derivative or an adjoint (``\frac{\partial L}{\partial W}``, ``\bar{o}_{t} = ...``,
``\delta_{T}``), continuation rows (``&\quad + ...``) joined to their equation, a ``cases`` right
side split into its branches (the branch ``t = T`` claimed at ``T``). Left out: the d2l general form
(an unspecified cell ``f(x_t, h_{t-1}, w_h)``) and the truncation differences
(``\delta_i - \delta_i^{(K)}``), which are not derivatives of the model.
"""
from __future__ import annotations

import re

ALIGN = re.compile(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", re.S)
INTERTEXT = re.compile(r"^\\intertext\{.*\}$")
CASES = re.compile(r"\\begin\{cases\}(.*)\\end\{cases\}")


def rows(block: str) -> list[str]:
    """The equations of one ``align*`` block, continuation rows joined."""
    out = []
    for line in block.strip().split("\n"):
        line = line.strip()
        if not line or INTERTEXT.match(line):
            continue
        line = line[:-2].strip() if line.endswith("\\\\") else line
        if line.startswith("&\\quad"):
            out[-1] += " " + line[len("&\\quad"):].strip()
        else:
            out.append(line)
    return out


def is_claim(lhs: str) -> bool:
    """A derivative or an adjoint on the left, not the general form or a truncation difference."""
    if "f(" in lhs or "w_h" in lhs or "^{(K)}" in lhs:
        return False
    return "\\partial" in lhs or "\\bar" in lhs or "\\delta" in lhs


def claims_of(document: str) -> list[str]:
    """Every gradient and adjoint equation of the document, as ``LEFT = RIGHT`` claims."""
    out = []
    for block in ALIGN.findall(document):
        for row in rows(block):
            if "&=" not in row:
                continue
            lhs, rhs = (s.strip() for s in row.split("&=", 1))
            if not is_claim(lhs):
                continue
            out += branches(lhs, rhs)
    return out


def branches(lhs: str, rhs: str) -> list[str]:
    """One claim, or one per branch of a ``cases`` right side (the ``t = T`` branch claimed at ``T``)."""
    m = CASES.search(rhs)
    if not m:
        return [f"{lhs} = {rhs}"]
    out = []
    for branch in m.group(1).split("\\\\"):
        value, condition = (s.strip() for s in branch.rsplit("&", 1))
        left = lhs.replace("_{t}", "_{T}") if condition == "t = T" else lhs
        out.append(f"{left} = {value}")
    return out
