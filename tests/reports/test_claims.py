"""Significance and the generated claims paragraph, from hand-written metrics (paired bootstrap replicates and
per-seed values), checked against straightforward recomputations."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.paper import Claim, Comparison, guidance_key, paper_claims
from reports.claims import Verdict, claims_markdown, judge
from reports.tables import guidance, table2
from reports.uncertainty import difference, estimate


def _cell(value: float, replicates: np.ndarray | None = None, metric: str = "fid", n: int = 500, step: int = 600,
          **extra: float) -> dict:  # fmt: skip
    data = {metric: value, "milestone": step, "sample": {"num_images": n}, **extra}
    if replicates is not None:
        data["bootstrap"] = {"seed": 0, "resamples": len(replicates), "num_samples": n, "confidence": 0.95,
                             "replicates": {metric: list(map(float, replicates))}}  # fmt: skip
        data["ci95"] = {metric: [float(np.quantile(replicates, 0.025)), float(np.quantile(replicates, 0.975))]}
    return data


def test_paired_difference_is_the_percentile_interval_of_replicate_differences() -> None:
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 2, 200)  # the resampling noise both archives share (same indices)
    a_reps, b_reps = 20 + shared + rng.normal(0, 0.1, 200), 21 + shared + rng.normal(0, 0.1, 200)
    a, b = estimate([_cell(20.0, a_reps)], "fid"), estimate([_cell(21.0, b_reps)], "fid")
    d = difference(a, b)
    lo, hi = np.quantile(a_reps - b_reps, [0.025, 0.975])
    assert d.value == pytest.approx(-1.0) and d.ci == pytest.approx((lo, hi))
    assert d.significant  # paired: the shared noise cancels
    # Unpaired (different bootstrap identity): the combined standard errors are far wider and include zero.
    other = _cell(21.0, b_reps, n=400)
    d_unpaired = difference(a, estimate([other], "fid"))
    assert d_unpaired.ci[0] < 0 < d_unpaired.ci[1] and not d_unpaired.significant


def test_seeds_give_the_t_interval_of_per_seed_differences() -> None:
    from scipy import stats

    a = estimate([_cell(v) for v in (10.0, 11.0, 12.5)], "fid")
    b = estimate([_cell(v) for v in (12.0, 12.5, 15.0)], "fid")
    diffs = np.array([-2.0, -1.5, -2.5])
    lo, hi = stats.t.interval(0.95, 2, loc=diffs.mean(), scale=stats.sem(diffs))
    assert difference(a, b).ci == pytest.approx((lo, hi))


def _claim(expected: int) -> Claim:
    return Claim("c", "claim", (Comparison("2", "heads2", "fid", "heads1", "fid", "fid", expected),))


def test_verdicts_follow_the_intervals() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, 100)
    better = {("2", "heads1", "fid"): [_cell(20.0, 20 + noise)], ("2", "heads2", "fid"): [_cell(18.0, 18 + noise)]}
    assert judge(_claim(-1), better).verdict is Verdict.SUPPORTS
    assert judge(_claim(+1), better).verdict is Verdict.CONTRADICTS
    noisy = {("2", "heads1", "fid"): [_cell(20.0, 20 + noise)],
             ("2", "heads2", "fid"): [_cell(19.9, 19.9 + rng.normal(0, 1, 100))]}  # fmt: skip
    result = judge(_claim(-1), noisy)
    assert result.verdict is Verdict.UNRESOLVED and "includes zero" in result.reason
    assert judge(_claim(-1), {("2", "heads1", "fid"): [_cell(20.0)]}).reason == "a cell is pending"
    short = judge(_claim(-1), better, evidence_steps=1000)
    assert short.verdict is Verdict.UNRESOLVED and "fewer than 1000 steps" in short.reason


def test_monotone_guidance_claims_need_every_consecutive_scale() -> None:
    claims = {c.key: c for c in paper_claims((1.0, 10.0))}
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.01, 100)
    results = {}
    for scale, p in ((None, 0.60), (1.0, 0.70), (10.0, 0.69)):
        results[("guidance", guidance_key(True, scale), "all")] = [_cell(p, p + noise, "precision")]
    # 0.60 -> 0.70 holds, 0.70 -> 0.69 goes the other way: contradicted.
    assert judge(claims["g-precision"], results).verdict is Verdict.CONTRADICTS
    results[("guidance", guidance_key(True, 10.0), "all")] = [_cell(0.8, 0.8 + noise, "precision")]
    assert judge(claims["g-precision"], results).verdict is Verdict.SUPPORTS
    text = claims_markdown((claims["g-precision"], claims["g-recall"]), results)
    assert "supports 1 of the paper's 2 checkable claims, contradicts 0 and cannot resolve 1" in text
    assert "**supports**" in text and "precision +0.100" in text


def test_tables_mark_significant_differences() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, 100)
    results = {("2", "heads1", "fid"): [_cell(20.0, 20 + noise)], ("2", "heads2", "fid"): [_cell(17.0, 17 + noise)],
               ("2", "heads4", "fid"): [_cell(20.1, 20.1 + rng.normal(0, 1, 100))]}  # fmt: skip
    rows = table2(results, 1).markdown_rows
    assert rows[1][2] == "-3.00*" and rows[2][2] == "+0.10"
    frame = table2(results, 1).frame
    assert list(frame["FID significant"][:3]) == [None, True, False]
    g = {("guidance", guidance_key(True, None), "all"): [_cell(0.5, 0.5 + noise / 100, "precision", fid=10.0)],
         ("guidance", guidance_key(True, 1.0), "all"): [_cell(0.6, 0.6 + noise / 100, "precision", fid=9.0)]}
    md = guidance(g, (1.0,), 1).markdown_rows
    assert md[2][6] == "0.500" and md[3][6] == "0.600*"
