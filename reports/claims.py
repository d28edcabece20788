"""Which of the paper's claims (benchmark.paper.paper_claims) a reproduction supports, contradicts or cannot
resolve, decided from the stored metrics alone. Pure: results in, verdicts and a paragraph out.

A comparison is decided by the 95% interval of its difference (reports.uncertainty): significant in the
expected direction -> holds, significant the other way -> fails, otherwise open. A claim is supported when
every comparison holds, contradicted when any fails, and otherwise cannot be resolved at this scale (with the
reason: a pending cell, rows too short to mean anything, or an interval that includes zero).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from benchmark.paper import Claim, Comparison
from reports.tables import Results
from reports.uncertainty import Estimate, difference, estimate


class Verdict(enum.Enum):
    SUPPORTS = "supports"
    CONTRADICTS = "contradicts"
    UNRESOLVED = "cannot resolve"


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: Verdict
    differences: tuple[Estimate | None, ...]  # a - b of each comparison (None: a cell is pending)
    reason: str  # why a claim is unresolved ("" otherwise)


def _steps(results: Results, c: Comparison) -> int | None:
    values = [r.get("milestone") for key in ((c.table, c.row, c.column), (c.table, c.base_row, c.base_column))
              for r in results.get(key, []) if isinstance(r.get("milestone"), int)]  # fmt: skip
    return min(values) if values else None


def judge(claim: Claim, results: Results, evidence_steps: int = 0) -> ClaimResult:
    """The verdict on one claim from the stored results."""
    diffs: list[Estimate | None] = []
    outcomes: list[str] = []
    short = False
    for c in claim.comparisons:
        a = estimate(results.get((c.table, c.row, c.column), []), c.metric)
        b = estimate(results.get((c.table, c.base_row, c.base_column), []), c.metric)
        d = None if a is None or b is None else difference(a, b)
        diffs.append(d)
        steps = _steps(results, c)
        short |= bool(evidence_steps) and steps is not None and steps < evidence_steps
        if d is None:
            outcomes.append("pending")
        elif not d.significant:
            outcomes.append("open")
        else:
            outcomes.append("holds" if (d.value > 0) == (c.expected > 0) else "fails")
    if short:
        return ClaimResult(claim, Verdict.UNRESOLVED, tuple(diffs), f"rows trained fewer than {evidence_steps} steps")
    if "fails" in outcomes:
        return ClaimResult(claim, Verdict.CONTRADICTS, tuple(diffs), "")
    if all(o == "holds" for o in outcomes):
        return ClaimResult(claim, Verdict.SUPPORTS, tuple(diffs), "")
    reason = "a cell is pending" if "pending" in outcomes else "the 95% interval includes zero"
    return ClaimResult(claim, Verdict.UNRESOLVED, tuple(diffs), reason)


def _fmt_difference(c: Comparison, d: Estimate | None) -> str:
    if d is None:
        return f"{c.metric}: pending"
    digits = 3 if c.metric in ("precision", "recall", "label_accuracy") else 2
    ci = "" if d.ci is None else f" [{d.ci[0]:+.{digits}f}, {d.ci[1]:+.{digits}f}]"
    return f"{c.metric} {d.value:+.{digits}f}{ci}"


def claims_markdown(claims: tuple[Claim, ...], results: Results, evidence_steps: int = 0) -> str:
    """A short generated section: how many claims the run supports / contradicts / cannot resolve, and each one
    with the measured differences behind its verdict."""
    judged = [judge(c, results, evidence_steps) for c in claims]
    counts = {v: sum(1 for j in judged if j.verdict is v) for v in Verdict}
    lines = [
        "## The paper's claims at this scale",
        "",
        f"Generated from the stored metrics: this run supports {counts[Verdict.SUPPORTS]} of the paper's "
        f"{len(judged)} checkable claims, contradicts {counts[Verdict.CONTRADICTS]} and cannot resolve "
        f"{counts[Verdict.UNRESOLVED]} at its scale. A claim is supported when every difference behind it has a 95% "
        "interval on the claimed side of zero, contradicted when one lies wholly on the other side.",
        "",
    ]
    for verdict in Verdict:
        for j in (x for x in judged if x.verdict is verdict):
            evidence = "; ".join(_fmt_difference(c, d) for c, d in zip(j.claim.comparisons, j.differences))
            reason = f" ({j.reason})" if j.reason else ""
            lines.append(f"- **{verdict.value}**{reason}: {j.claim.text}. Ours: {evidence}.")
    return "\n".join(lines) + "\n"
