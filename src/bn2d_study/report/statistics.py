"""Mean, spread and 95% confidence intervals across seeds, and BN-on vs BN-off pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SampleSummary:
    """Mean, sample standard deviation and a t-based 95% confidence interval of the mean."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> SampleSummary:
    """Summarize a sample; std and the interval are NaN for a single value (no spread known)."""
    array = np.asarray(values, dtype=np.float64)
    n = len(array)
    if n == 0:
        return SampleSummary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if n == 1:
        return SampleSummary(1, mean, math.nan, math.nan, math.nan)
    std = float(array.std(ddof=1))
    half_width = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * std / math.sqrt(n)
    return SampleSummary(n, mean, std, mean - half_width, mean + half_width)


@dataclass(frozen=True)
class PairedComparison:
    """Treatment minus control over runs paired by seed."""

    seeds: tuple[int, ...]
    difference: SampleSummary
    wins: int  # pairs where the treatment scored higher


def compare_paired(
    treatment: dict[int, float], control: dict[int, float], confidence: float = 0.95
) -> PairedComparison:
    """Pair the two by seed (seeds in only one are left out) and summarize the differences."""
    seeds = tuple(sorted(set(treatment) & set(control)))
    differences = [treatment[s] - control[s] for s in seeds]
    return PairedComparison(
        seeds=seeds,
        difference=summarize(differences, confidence),
        wins=sum(d > 0 for d in differences),
    )
