"""Group runs into settings (every swept key but the seed) and compute the report's numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bn2d_study.analysis.path_measures import mean_turning_angle, tortuosity
from bn2d_study.analysis.runs import RunRecord
from bn2d_study.analysis.statistics import (
    PairedComparison,
    SampleSummary,
    compare_paired,
    summarize,
)

BATCHNORM_KEY = "model.use_batchnorm"
# Keys that never make two runs different settings: the seed (runs of one setting differ by it),
# where data and outputs live, and how the run is displayed.
IGNORED_KEY_PREFIXES = (
    "seed",
    "torch_threads",
    "resume",
    "data.device_resident",
    "trainer.profiler",
    "paths.",
    "logger.",
    "print_config",
    "ckpt_path",
    "data.data_dir",
    "data.archive",
    "data.url",
    "data.num_workers",
    "data.pin_memory",
    "trainer.default_root_dir",
    "callbacks.model_checkpoint.dirpath",
    "callbacks.sampled_weights.output_dir",
)
# The study's "faster convergence" point: train loss after this (0-based) epoch.
CONVERGENCE_EPOCH = 3
# Landscape scalars logged by `LossLandscapeProbe`, summarized when present.
LANDSCAPE_KEYS = ("landscape/loss_range", "landscape/grad_change", "landscape/beta_smoothness")


def setting_keys(runs: Sequence[RunRecord]) -> list[str]:
    """`model.use_batchnorm` plus every key whose value differs between runs (not the seed).

    Only completed runs decide, so a failed run's broken value does not become a setting;
    when none completed, all runs do.
    """
    deciding = [run for run in runs if run.usable] or [run for run in runs if run.config]
    keys: list[str] = [BATCHNORM_KEY]
    for run in deciding:
        for key in run.config:
            if key in keys or key.startswith(IGNORED_KEY_PREFIXES):
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


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass
class SettingSummary:
    """The numbers of one setting over its usable runs (one per seed)."""

    values: dict[str, Any]  # setting key -> value
    label: str
    runs: list[RunRecord]  # usable runs only
    final_acc: SampleSummary
    best_acc: float  # of the seed-mean test-accuracy curve
    best_epoch: int | None
    epochs_to_threshold: int | None  # epochs trained until the mean curve first reaches it
    train_loss_at_convergence_epoch: SampleSummary
    path_measures: dict[str, SampleSummary] = field(default_factory=dict)
    landscape: dict[str, SampleSummary] = field(default_factory=dict)

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
    values: dict[str, Any], label: str, runs: list[RunRecord], threshold: float
) -> SettingSummary:
    """Compute one setting's row from its usable runs."""
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
    return SettingSummary(
        values=values,
        label=label,
        runs=runs,
        final_acc=_finite_summary(
            [run.curve("test/acc")[-1] for run in runs if len(run.curve("test/acc"))]
        ),
        best_acc=float(accuracy[best_epoch]) if best_epoch is not None else math.nan,
        best_epoch=best_epoch,
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
class StudyReport:
    """Everything the report writes: settings, paired BN comparisons, and every run's outcome."""

    keys: list[str]
    short_names: dict[str, str]
    settings: list[SettingSummary]
    comparisons: list[tuple[str, PairedComparison]]  # (label of the other keys, comparison)
    runs: list[RunRecord]
    threshold: float


def setting_label(values: dict[str, Any], short_names: dict[str, str]) -> str:
    """`use_batchnorm=true, batch_size=8`."""
    return ", ".join(f"{short_names[k]}={_format_value(v)}" for k, v in values.items())


def build_report(runs: Sequence[RunRecord], threshold: float = 0.95) -> StudyReport:
    """Group runs into settings and compute every summary and paired comparison."""
    runs = list(runs)
    keys = setting_keys(runs)
    short = _short_names(keys)
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    values_of: dict[tuple[str, ...], dict[str, Any]] = {}
    for run in runs:
        if not run.config:
            continue
        values = {key: run.config.get(key) for key in keys}
        group = tuple(repr(v) for v in values.values())
        values_of[group] = values
        groups.setdefault(group, [])
        if run.usable:
            groups[group].append(run)
    settings = [
        summarize_setting(values_of[g], setting_label(values_of[g], short), groups[g], threshold)
        for g in sorted(groups, key=lambda g: [_sort_key(v) for v in values_of[g].values()])
    ]
    return StudyReport(keys, short, settings, _compare_batchnorm(settings, short), runs, threshold)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float, bool)) else (1, str(value))


def _compare_batchnorm(
    settings: Sequence[SettingSummary], short: dict[str, str]
) -> list[tuple[str, PairedComparison]]:
    """BN on minus BN off in final test accuracy, for each combination of the other keys."""
    by_other: dict[str, dict[bool, SettingSummary]] = {}
    for setting in settings:
        others = {k: v for k, v in setting.values.items() if k != BATCHNORM_KEY}
        label = setting_label(others, short) or "all runs"
        by_other.setdefault(label, {})[bool(setting.values.get(BATCHNORM_KEY))] = setting
    comparisons = []
    for label, pair in by_other.items():
        if True in pair and False in pair:
            on, off = (
                {run.seed: float(run.curve("test/acc")[-1]) for run in pair[flag].runs}
                for flag in (True, False)
            )
            comparisons.append((label, compare_paired(on, off)))
    return comparisons
