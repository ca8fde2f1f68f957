"""Group runs into settings (every swept key but the seed) and compute the report's numbers.

Besides one row per setting: paired comparisons of any two-valued key (`compare_key`, BN on
against off by default), and for a swept key (e.g. the learning rate) the best value of each
combination of the other keys, the comparison at each one's best value, and how many runs
diverged at each value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bn2d_study.report.path_measures import mean_turning_angle, tortuosity
from bn2d_study.report.runs import RunRecord
from bn2d_study.report.statistics import (
    PairedComparison,
    SampleSummary,
    compare_paired,
    summarize,
)
from bn2d_study.run_folder.files import COMPLETED, DIVERGED
from bn2d_study.run_folder.keys import describes_the_run
from bn2d_study.study import BATCHNORM_KEY

# The study's "faster convergence" point: train loss after this (0-based) epoch.
CONVERGENCE_EPOCH = 3
# Landscape scalars logged by `LossLandscapeProbe`, summarized when present.
LANDSCAPE_KEYS = ("landscape/loss_range", "landscape/grad_change", "landscape/beta_smoothness")


def setting_keys(runs: Sequence[RunRecord], first: Sequence[str] = (BATCHNORM_KEY,)) -> list[str]:
    """`first` plus every key that describes a run and differs between runs (not the seed).

    Completed and diverged runs decide, so a failed run's broken value does not become a
    setting; when none of those exists, all runs do.
    """
    deciding = [run for run in runs if run.status in (COMPLETED, DIVERGED)] or [
        run for run in runs if run.config
    ]
    keys: list[str] = [k for k in first if any(k in run.config for run in deciding)]
    for run in deciding:
        for key in run.config:
            if key in keys or key == "seed" or not describes_the_run(key):
                continue
            if any(_names_its_run_folder(r, key) for r in deciding):
                continue  # an output location, e.g. a callback's dirpath
            if len({repr(r.config.get(key)) for r in deciding}) > 1:
                keys.append(key)
    return keys


def _names_its_run_folder(run: RunRecord, key: str) -> bool:
    return run.path.name in str(run.config.get(key, ""))


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """Last component of each key (`batch_size`), the full key where two would clash."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {
        key: (short if last.count(short) == 1 else key)
        for key, short in zip(keys, last, strict=True)
    }


def format_value(value: Any) -> str:
    """A config value as the command line writes it (`true`, not `True`)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass
class SettingSummary:
    """The numbers of one setting over its usable runs (one per seed)."""

    values: dict[str, Any]  # setting key -> value
    label: str
    runs: list[RunRecord]  # usable runs only
    statuses: dict[str, int]  # every run of the setting: status -> count
    final_acc: SampleSummary
    best_acc: float  # of the seed-mean test-accuracy curve
    best_epoch: int | None
    best_acc_per_run: SampleSummary  # each run's own best test accuracy, over the runs
    epochs_to_threshold: int | None  # epochs trained until the mean curve first reaches it
    train_loss_at_convergence_epoch: SampleSummary
    path_measures: dict[str, SampleSummary] = field(default_factory=dict)
    landscape: dict[str, SampleSummary] = field(default_factory=dict)
    # Every other Test metric the runs logged (a metric added to model.metrics): its final value.
    other_test_metrics: dict[str, SampleSummary] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int | None]:
        """Seeds of the usable runs."""
        return [run.seed for run in self.runs]


def mean_curve(runs: Sequence[RunRecord], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation across runs of a per-epoch metric, over their common epochs."""
    curves = [run.curve(key) for run in runs]
    curves = [c for c in curves if len(c)]
    if not curves:
        return np.empty(0), np.empty(0)
    length = min(len(c) for c in curves)
    stacked = np.stack([c[:length] for c in curves])
    std = stacked.std(axis=0, ddof=1) if len(curves) > 1 else np.full(length, np.nan)
    return stacked.mean(axis=0), std


def _finite_summary(values: Sequence[float]) -> SampleSummary:
    return summarize([v for v in values if math.isfinite(v)])


def _path_measures(runs: Sequence[RunRecord]) -> dict[str, SampleSummary]:
    measures: dict[str, SampleSummary] = {}
    for kind in ("epoch", "step"):
        paths = [getattr(run, f"weight_path_{kind}")[:, :2] for run in runs]
        paths = [p for p in paths if len(p) >= 2]
        if paths:
            measures[f"tortuosity_{kind}"] = _finite_summary([tortuosity(p) for p in paths])
            measures[f"turning_angle_{kind}"] = _finite_summary(
                [mean_turning_angle(p) for p in paths]
            )
    return measures


def summarize_setting(
    values: dict[str, Any], label: str, all_runs: list[RunRecord], threshold: float
) -> SettingSummary:
    """Compute one setting's row from its usable runs; count every run's status."""
    runs = [run for run in all_runs if run.usable]
    statuses: dict[str, int] = {}
    for run in all_runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    accuracy, _ = mean_curve(runs, "test/acc")
    best_epoch = (
        int(np.nanargmax(accuracy)) if len(accuracy) and np.isfinite(accuracy).any() else None
    )
    reached = np.flatnonzero(accuracy >= threshold) if len(accuracy) else np.empty(0)
    landscape = {}
    for key in LANDSCAPE_KEYS:
        per_run = [
            float(np.nanmean(run.curve(key))) for run in runs if np.isfinite(run.curve(key)).any()
        ]
        if per_run:
            landscape[key.split("/", 1)[1]] = summarize(per_run)
    other_names = sorted(
        {
            key.split("/", 1)[1]
            for run in runs
            for metrics in run.epochs.values()
            for key in metrics
            if key.startswith("test/") and key not in ("test/acc", "test/loss")
        }
    )
    other_test_metrics = {
        name: _finite_summary([run.final(f"test/{name}") for run in runs]) for name in other_names
    }
    return SettingSummary(
        values=values,
        label=label,
        runs=runs,
        statuses=statuses,
        other_test_metrics=other_test_metrics,
        final_acc=_finite_summary([run.final("test/acc") for run in runs]),
        best_acc=float(accuracy[best_epoch]) if best_epoch is not None else math.nan,
        best_epoch=best_epoch,
        best_acc_per_run=_finite_summary(
            [
                float(np.nanmax(run.curve("test/acc")))
                for run in runs
                if np.isfinite(run.curve("test/acc")).any()
            ]
        ),
        epochs_to_threshold=int(reached[0]) + 1 if len(reached) else None,
        train_loss_at_convergence_epoch=_finite_summary(
            [
                run.curve("train/loss")[CONVERGENCE_EPOCH]
                for run in runs
                if len(run.curve("train/loss")) > CONVERGENCE_EPOCH
            ]
        ),
        path_measures=_path_measures(runs),
        landscape=landscape,
    )


@dataclass
class PairedRow:
    """`value_b` minus `value_a` of the compared key, runs paired by seed."""

    label: str  # the other keys' values
    value_a: Any
    value_b: Any
    comparison: PairedComparison
    note: str = ""  # e.g. the swept key's value each side was taken at


@dataclass
class SweepValue:
    """One value of the swept key within one group of the other keys."""

    value: Any
    setting: SettingSummary

    @property
    def diverged(self) -> int:
        """Runs at this value that diverged."""
        return self.setting.statuses.get(DIVERGED, 0)

    @property
    def runs(self) -> int:
        """Runs at this value, whatever their outcome."""
        return sum(self.setting.statuses.values())


@dataclass
class SweepGroup:
    """The swept key's values for one combination of the other keys, and the best of them."""

    label: str
    others: dict[str, Any]
    values: list[SweepValue]
    best: SweepValue | None  # highest mean final test accuracy, with at least 2 completed runs


@dataclass
class StudyReport:
    """Everything the report writes: settings, comparisons, sweeps and every run's outcome."""

    keys: list[str]
    short_names: dict[str, str]
    settings: list[SettingSummary]
    compare_key: str
    comparisons: list[PairedRow]  # at equal values of the other keys
    runs: list[RunRecord]
    threshold: float
    sweep_key: str | None = None
    sweep_groups: list[SweepGroup] = field(default_factory=list)
    at_best: list[PairedRow] = field(default_factory=list)  # each side at its best value
    unreadable: list[RunRecord] = field(default_factory=list)  # folders left out, and why


def setting_label(values: dict[str, Any], short_names: dict[str, str]) -> str:
    """`use_batchnorm=true, batch_size=8`."""
    return ", ".join(f"{short_names[k]}={format_value(v)}" for k, v in values.items())


def build_report(
    runs: Sequence[RunRecord],
    threshold: float = 0.95,
    compare_key: str = BATCHNORM_KEY,
    sweep_key: str | None = None,
) -> StudyReport:
    """Group runs into settings; compute every summary, comparison and sweep."""
    runs = list(runs)
    keys = setting_keys(runs, [compare_key] + ([sweep_key] if sweep_key else []))
    short = _short_names(keys)
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    values_of: dict[tuple[str, ...], dict[str, Any]] = {}
    for run in runs:
        if not run.config:
            continue
        values = {key: run.config.get(key) for key in keys}
        group = tuple(repr(v) for v in values.values())
        values_of[group] = values
        groups.setdefault(group, []).append(run)
    settings = [
        summarize_setting(values_of[g], setting_label(values_of[g], short), groups[g], threshold)
        for g in sorted(groups, key=lambda g: [_sort_key(v) for v in values_of[g].values()])
    ]
    report = StudyReport(
        keys,
        short,
        settings,
        compare_key,
        compare_pairs(settings, compare_key, short),
        runs,
        threshold,
    )
    if sweep_key and sweep_key in keys:
        report.sweep_key = sweep_key
        report.sweep_groups = sweep_groups(settings, sweep_key, short)
        report.at_best = compare_at_best(report.sweep_groups, compare_key, sweep_key, short)
    return report


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float, bool)) else (1, str(value))


def final_accuracies(setting: SettingSummary) -> dict[int, float]:
    """Seed -> final test accuracy of the setting's completed runs."""
    return {run.seed: run.final("test/acc") for run in setting.runs}  # type: ignore[misc]


def _by_others(
    settings: Sequence[SettingSummary], key: str
) -> dict[tuple[str, ...], tuple[dict[str, Any], list[SettingSummary]]]:
    """Settings grouped by the values of every key but `key`."""
    grouped: dict[tuple[str, ...], tuple[dict[str, Any], list[SettingSummary]]] = {}
    for setting in settings:
        others = {k: v for k, v in setting.values.items() if k != key}
        entry = grouped.setdefault(tuple(repr(v) for v in others.values()), (others, []))
        entry[1].append(setting)
    return grouped


def compare_pairs(
    settings: Sequence[SettingSummary], key: str, short: dict[str, str]
) -> list[PairedRow]:
    """For each combination of the other keys where `key` takes two values: the second minus
    the first (true minus false) in final test accuracy, paired by seed."""
    rows = []
    for others, members in _by_others(settings, key).values():
        with_runs = [s for s in members if s.runs]
        if len({repr(s.values[key]) for s in with_runs}) != 2:
            continue
        first, second = sorted(with_runs, key=lambda s: _sort_key(s.values[key]))
        rows.append(
            PairedRow(
                setting_label(others, short) or "all runs",
                first.values[key],
                second.values[key],
                compare_paired(final_accuracies(second), final_accuracies(first)),
            )
        )
    return rows


def sweep_groups(
    settings: Sequence[SettingSummary], key: str, short: dict[str, str]
) -> list[SweepGroup]:
    """For each combination of the other keys: every value of `key`, and the best one."""
    groups = []
    for others, members in _by_others(settings, key).values():
        values = sorted(
            (SweepValue(s.values[key], s) for s in members), key=lambda v: _sort_key(v.value)
        )
        eligible = [v for v in values if v.setting.final_acc.n >= 2]
        best = max(eligible, key=lambda v: v.setting.final_acc.mean, default=None)
        groups.append(SweepGroup(setting_label(others, short) or "all runs", others, values, best))
    return groups


def compare_at_best(
    groups: Sequence[SweepGroup], compare_key: str, sweep_key: str, short: dict[str, str]
) -> list[PairedRow]:
    """The compared key's two sides, each at its own best value of the swept key."""
    by_rest: dict[tuple[str, ...], list[SweepGroup]] = {}
    for group in groups:
        if compare_key not in group.others or group.best is None:
            continue
        rest = {k: v for k, v in group.others.items() if k != compare_key}
        by_rest.setdefault(tuple(repr(v) for v in rest.values()), []).append(group)
    rows = []
    for members in by_rest.values():
        if len(members) != 2:
            continue
        first, second = sorted(members, key=lambda g: _sort_key(g.others[compare_key]))
        assert first.best is not None and second.best is not None
        rest = {k: v for k, v in first.others.items() if k != compare_key}
        sweep_name = short[sweep_key]
        rows.append(
            PairedRow(
                setting_label(rest, short) or "all runs",
                first.others[compare_key],
                second.others[compare_key],
                compare_paired(
                    final_accuracies(second.best.setting), final_accuracies(first.best.setting)
                ),
                note=f"{format_value(first.others[compare_key])} at {sweep_name}="
                f"{format_value(first.best.value)}, {format_value(second.others[compare_key])} "
                f"at {sweep_name}={format_value(second.best.value)}",
            )
        )
    return rows
