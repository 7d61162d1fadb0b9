r"""The usual mistakes of attention and softmax claims, tried like :mod:`symderive.judge.diagnose`'s trials: a
changed claim that then holds at every point names the mistake.

* the factor ``1/\sqrt{d_k}`` of the scores forgotten (or written twice) in ``\bar Q`` and ``\bar K``;
* the term ``- s s^\top`` of the softmax Jacobian missing (``\operatorname{diag}(s)`` alone);
* the row-sum term of a row-wise softmax's rule missing (``P \odot \bar P`` alone).
"""
from __future__ import annotations

from symderive.judge.compare import Claim
from symderive.judge.conditions import matches
from symderive.judge.point import Point
from symderive.latex.parsed import ONES, function, hadamard, matrix_symbol, partial, transpose
from symderive.ops.rows import SoftmaxRows, options_of
from symderive.ops.softmax import Softmax


def scale_trial(claim: Claim, points: list[Point]) -> str:
    """The claim times (or over) the scale of the scores, at each point's sizes, matches."""
    for option in options_of(points[0].subject.program):
        if option.keyword != "scale":
            continue
        values = [float(option.value.xreplace(p.sizes)) for p in points]
        if all(matches(claim, [p], transform=lambda x, c=c: c * x) for p, c in zip(points, values)):
            return f"the factor ${option.latex}$ of the scores is missing (the scores are scaled before the softmax)"
        if all(matches(claim, [p], transform=lambda x, c=c: x / c) for p, c in zip(points, values)):
            return f"the factor ${option.latex}$ of the scores appears twice"
    return ""


def softmax_names(points: list[Point], kind: type) -> list[str]:
    """The model's values defined as a softmax of ``kind`` (a vector's, or each row's)."""
    return sorted(a.target.name for a in points[0].subject.program.assignments if type(a.expr) is kind)


def softmax_outer_trial(claim: Claim, points: list[Point]) -> str:
    """``\\operatorname{diag}(s)`` where the Jacobian is ``\\operatorname{diag}(s) - s s^\\top``: the claim minus
    ``s s^\\top`` matches."""
    for name in softmax_names(points, Softmax):
        s = matrix_symbol(name)
        if matches(claim.with_rhs(claim.rhs - s * transpose(s)), points):
            return (f"the term $- {name} {name}^\\top$ of the softmax Jacobian is missing: the entries of ${name}$ "
                    f"sum to one, so raising one logit lowers every other entry "
                    f"($\\partial {name}_i / \\partial z_j = -{name}_i {name}_j$ for $i \\ne j$)")
    return ""


def softmax_rows_trial(claim: Claim, points: list[Point]) -> str:
    """``P \\odot \\bar P`` where the rule is ``P \\odot (\\bar P - \\operatorname{rowsum}(\\bar P \\odot P)
    \\mathbf{1}^\\top)``: the claim minus the row-sum term matches."""
    loss = matrix_symbol(points[0].subject.loss_name)
    for name in softmax_names(points, SoftmaxRows):
        P = matrix_symbol(name)
        correction = hadamard(P, function("rowsum", hadamard(partial(loss, P), P)) * transpose(ONES))
        if matches(claim.with_rhs(claim.rhs - correction), points):
            return (f"the row-sum term $- {name} \\odot (\\operatorname{{rowsum}}(\\bar {name} \\odot {name})\\, "
                    f"\\mathbf{{1}}^\\top)$ is missing: each row of ${name}$ sums to one, so the softmax's Jacobian "
                    f"of a row is $\\operatorname{{diag}}(p) - p p^\\top$, not $\\operatorname{{diag}}(p)$")
    return ""


ROW_TRIALS = (scale_trial, softmax_outer_trial, softmax_rows_trial)

