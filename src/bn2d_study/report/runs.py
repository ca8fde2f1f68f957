"""Read run folders back: resolved config, per-epoch metrics, sampled weights and outcome."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bn2d_study.config.history import upgrade_run_config
from bn2d_study.run_folder.files import (
    COMPLETED,
    DIVERGED,
    FAILED,
    GONE,
    INTERRUPTED,
    METRICS_CSV,
    RESOLVED_CONFIG_NAME,
    RUN_STATUS_FILE,
    RUNNING,
    SAMPLED_WEIGHTS_CSV,
    read_epoch_metrics,
    read_run_status,
    read_weight_path,
    run_state,
)
from bn2d_study.run_folder.lock import STALE_AFTER_S

# Hydra's copy of a job's composed config (`.hydra/config.yaml`): marks a run folder before
# the run writes anything.
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
# The report's own status for a folder whose files cannot be read (damaged, cut short or not
# this project's): listed with what is wrong, left out of every table.
UNREADABLE = "unreadable"


@dataclass
class RunRecord:
    """One run folder, read back."""

    path: Path
    config: dict[str, Any]  # flattened resolved config: {"model.use_batchnorm": True, ...}
    # completed, diverged, failed, interrupted, running or gone (run_folder.py), or unreadable
    status: str
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

    def final(self, key: str) -> float:
        """A metric's last recorded value (epochs without it, e.g. with
        `trainer.check_val_every_n_epoch` > 1, skipped); NaN if it has none."""
        values = self.curve(key)
        recorded = values[~np.isnan(values)]
        return float(recorded[-1]) if len(recorded) else math.nan

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
    """`folder` itself when it is a run folder, else every run folder below it, sorted.

    A run folder holds `resolved_config.yaml` or `run_status.json`, or Hydra's job files
    (`.hydra/config.yaml`) of a run that never got as far as writing either.
    """
    folder = Path(folder)
    markers = (RESOLVED_CONFIG_NAME, RUN_STATUS_FILE)  # a run that failed early has only the latter
    if any((folder / name).is_file() for name in markers):
        return [folder]
    found = {p.parent for name in markers for p in folder.rglob(name)}
    found |= {p.parent.parent for p in folder.rglob(HYDRA_CONFIG.name) if p.parent.name == ".hydra"}
    return sorted(found)


def _weight_array(csv_path: Path, kind: str) -> np.ndarray:
    path = read_weight_path(csv_path, kind)
    return np.array(path, dtype=np.float64).reshape(-1, 3)


def read_run(run_dir: Path) -> RunRecord:
    """Read one run folder; never raises for a broken, half-written or foreign run folder:
    those come back `unreadable`, with what is wrong in `note`."""
    run_dir = Path(run_dir)
    try:
        record = _read_run(run_dir)
    except Exception as error:  # whatever a damaged file makes a reader raise
        return RunRecord(run_dir, {}, UNREADABLE, f"{type(error).__name__}: {error}")
    problem = "" if record.status == UNREADABLE else _unreadable(run_dir, record)
    if problem:
        return RunRecord(run_dir, record.config, UNREADABLE, problem)
    return record


def _unreadable(run_dir: Path, record: RunRecord) -> str:
    """What makes a folder that was read unusable for the report, or ''."""
    if (run_dir / RUN_STATUS_FILE).is_file() and read_run_status(run_dir) is None:
        return f"{RUN_STATUS_FILE} is not a JSON object (damaged or cut short)"
    if record.status == COMPLETED and not np.isfinite(record.curve("test/acc")).any():
        return (
            f"recorded as completed, but {METRICS_CSV} holds no test/acc (empty, cut short, "
            f"or written without the CSV logger)"
        )
    return ""


def _read_run(run_dir: Path) -> RunRecord:
    config_path = run_dir / RESOLVED_CONFIG_NAME
    try:
        # A run that failed before writing its config has none.
        loaded = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return RunRecord(run_dir, {}, UNREADABLE, f"unreadable {RESOLVED_CONFIG_NAME}: {error}")
    if not isinstance(loaded, dict | None):
        return RunRecord(
            run_dir, {}, UNREADABLE, f"unreadable {RESOLVED_CONFIG_NAME}: not a mapping of keys"
        )
    config = upgrade_run_config(flatten(loaded or {}))
    state, note = run_state(run_dir, float(config.get("run_lock.stale_after_s", STALE_AFTER_S)))
    if state == FAILED:
        return RunRecord(run_dir, config, FAILED, note or "failed")
    if not config_path.is_file():
        never = "" if (run_dir / RUN_STATUS_FILE).is_file() else ": the run never started"
        return RunRecord(run_dir, {}, UNREADABLE, f"no {RESOLVED_CONFIG_NAME}{never}")
    try:
        epochs, final = read_epoch_metrics(run_dir / METRICS_CSV)
        path_epoch = _weight_array(run_dir / SAMPLED_WEIGHTS_CSV, "epoch")
        path_step = _weight_array(run_dir / SAMPLED_WEIGHTS_CSV, "step")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, csv.Error) as error:
        return RunRecord(run_dir, config, UNREADABLE, f"unreadable metrics: {error}")
    record = RunRecord(run_dir, config, state, note, epochs, path_epoch, path_step)
    record.status, record.note = _outcome(record, state, note, final)
    return record


def _outcome(record: RunRecord, state: str, note: str, final: dict[str, float]) -> tuple[str, str]:
    """The report's status and note, from the recorded state and the metrics."""
    if state == DIVERGED:
        return DIVERGED, note
    nonfinite = sorted(
        epoch
        for epoch, metrics in record.epochs.items()
        if any(k.endswith("/loss") and not math.isfinite(v) for k, v in metrics.items())
    )
    if nonfinite:  # a run trained with the divergence check off
        return DIVERGED, f"loss is NaN or infinite from epoch {nonfinite[0]}"
    if state in (COMPLETED, RUNNING):
        return state, note
    if state == INTERRUPTED:
        return INTERRUPTED, "interrupted by SIGTERM; rerun with resume=true to continue it"
    max_epochs = int(record.config.get("trainer.max_epochs") or 0)
    done = sum("test/acc" in metrics for metrics in record.epochs.values())
    # Runs written before run_status.json existed count as completed once all is recorded.
    if max_epochs and done >= max_epochs and (final or not record.config.get("test", True)):
        return COMPLETED, "no run_status.json, but every epoch and the final test are recorded"
    return GONE, f"{note}; {done} of {max_epochs} epochs recorded"
