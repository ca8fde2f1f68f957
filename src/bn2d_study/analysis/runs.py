"""Read run folders back: resolved config, per-epoch metrics, sampled weights and outcome."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bn2d_study.callbacks.sampled_weights import CSV_FILE_NAME, read_weight_path
from bn2d_study.run_folder import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    METRICS_CSV,
    RESOLVED_CONFIG_NAME,
    RUN_STATUS_FILE,
    read_run_status,
)

# Outcomes of a run as the report sees them.
DIVERGED = "diverged"  # completed, but a loss became NaN or infinite
INCOMPLETE = "incomplete"  # no outcome yet: still running, or killed


@dataclass
class RunRecord:
    """One run folder, read back."""

    path: Path
    config: dict[str, Any]  # flattened resolved config: {"model.use_batchnorm": True, ...}
    status: str  # completed, diverged, failed or incomplete
    note: str = ""
    # epoch -> {"train/loss": ..., "test/acc": ..., ...}, from the CSV logger
    epochs: dict[int, dict[str, float]] = field(default_factory=dict)
    weight_path_epoch: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))
    weight_path_step: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))

    @property
    def seed(self) -> int | None:
        """The run's `seed`."""
        return self.config.get("seed")

    def curve(self, key: str) -> np.ndarray:
        """One metric per recorded epoch (NaN where an epoch lacks it), epochs 0, 1, ..."""
        if not self.epochs:
            return np.empty(0)
        last = max(self.epochs)
        return np.array([self.epochs.get(e, {}).get(key, math.nan) for e in range(last + 1)])

    @property
    def usable(self) -> bool:
        """Completed with finite losses: counted in means and comparisons."""
        return self.status == COMPLETED


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists are kept as values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(
            flatten(value, f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}")
        )
    return flat


def find_run_dirs(folder: Path) -> list[Path]:
    """`folder` itself when it is a run folder, else every run folder below it, sorted."""
    folder = Path(folder)
    markers = (RESOLVED_CONFIG_NAME, RUN_STATUS_FILE)  # a run that failed early has only the latter
    if any((folder / name).is_file() for name in markers):
        return [folder]
    return sorted({p.parent for name in markers for p in folder.rglob(name)})


def read_epoch_metrics(csv_path: Path) -> tuple[dict[int, dict[str, float]], dict[str, float]]:
    """Per-epoch metrics of a CSV-logger file, and the `best_ckpt/*` values of the final test."""
    epochs: dict[int, dict[str, float]] = {}
    final: dict[str, float] = {}
    if not csv_path.is_file():
        return epochs, final
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                target = final if key.startswith("best_ckpt/") else epochs.setdefault(epoch, {})
                target[key] = float(value)
    return epochs, final


def _weight_array(csv_path: Path, kind: str) -> np.ndarray:
    path = read_weight_path(csv_path, kind)
    return np.array(path, dtype=np.float64).reshape(-1, 3)


def read_run(run_dir: Path) -> RunRecord:
    """Read one run folder; never raises for a broken or half-written run (see `status`)."""
    run_dir = Path(run_dir)
    status = read_run_status(run_dir)
    config_path = run_dir / RESOLVED_CONFIG_NAME
    try:
        # A run that failed before writing its config has none.
        config = (
            flatten(yaml.safe_load(config_path.read_text()) or {}) if config_path.is_file() else {}
        )
    except (OSError, yaml.YAMLError) as error:
        return RunRecord(run_dir, {}, FAILED, f"unreadable {RESOLVED_CONFIG_NAME}: {error}")
    if status is not None and status.get("status") == FAILED:
        return RunRecord(run_dir, config, FAILED, str(status.get("error", "failed")))
    if not config_path.is_file():
        return RunRecord(run_dir, {}, FAILED, f"no {RESOLVED_CONFIG_NAME}")
    try:
        epochs, final = read_epoch_metrics(run_dir / METRICS_CSV)
        path_epoch = _weight_array(run_dir / CSV_FILE_NAME, "epoch")
        path_step = _weight_array(run_dir / CSV_FILE_NAME, "step")
    except (OSError, ValueError, KeyError, csv.Error) as error:
        return RunRecord(run_dir, config, FAILED, f"unreadable metrics: {error}")
    record = RunRecord(run_dir, config, INCOMPLETE, "", epochs, path_epoch, path_step)
    record.status, record.note = _outcome(record, status, final)
    return record


def _outcome(
    record: RunRecord, status: dict[str, Any] | None, final: dict[str, float]
) -> tuple[str, str]:
    nonfinite = sorted(
        epoch
        for epoch, metrics in record.epochs.items()
        if any(k.endswith("/loss") and not math.isfinite(v) for k, v in metrics.items())
    )
    if nonfinite:
        return DIVERGED, f"loss is NaN or infinite from epoch {nonfinite[0]}"
    if status is not None and status.get("status") == COMPLETED:
        return COMPLETED, ""
    if status is not None and status.get("status") == INTERRUPTED:
        return INCOMPLETE, "interrupted by SIGTERM; rerun with resume=true to continue it"
    max_epochs = int(record.config.get("trainer.max_epochs") or 0)
    done = sum("test/acc" in metrics for metrics in record.epochs.values())
    # Runs written before run_status.json existed count as completed once all is recorded.
    if max_epochs and done >= max_epochs and (final or not record.config.get("test", True)):
        return COMPLETED, "no run_status.json, but every epoch and the final test are recorded"
    return INCOMPLETE, f"{done} of {max_epochs} epochs recorded (still running, or stopped)"
