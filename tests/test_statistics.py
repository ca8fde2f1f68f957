"""Confidence intervals and paired comparisons, against textbook values."""

from __future__ import annotations

import math

import pytest

from bn2d_study.report.statistics import compare_paired, summarize


def test_summary_matches_a_hand_computed_t_interval() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    assert summary.n == 4 and summary.mean == pytest.approx(2.5)
    assert summary.std == pytest.approx(math.sqrt(5 / 3))
    # t(0.975, df=3) = 3.182446
    half = 3.182446 * math.sqrt(5 / 3) / 2
    assert summary.ci_low == pytest.approx(2.5 - half, rel=1e-5)
    assert summary.ci_high == pytest.approx(2.5 + half, rel=1e-5)


def test_one_value_has_a_mean_but_no_spread() -> None:
    summary = summarize([0.9])
    assert summary.mean == 0.9 and math.isnan(summary.std) and math.isnan(summary.ci_low)
    assert summarize([]).n == 0


def test_paired_comparison_pairs_by_seed_and_counts_wins() -> None:
    on = {1: 0.98, 2: 0.97, 3: 0.95, 7: 0.99}  # seed 7 has no partner
    off = {1: 0.92, 2: 0.98, 3: 0.90}
    result = compare_paired(on, off)
    assert result.seeds == (1, 2, 3)
    assert result.wins == 2
    assert result.difference.mean == pytest.approx((0.06 - 0.01 + 0.05) / 3)
