"""What a run folder holds: its file names and formats, for the writers and readers alike.

- `run_status.json`, written last by every run: `completed` with the final metrics,
  `diverged` with the epoch and step, `failed` with the error, or `interrupted`; and where it
  ran (host, pid, SLURM job).
- `csv/metrics.csv`, Lightning's CSV logger: one row per logging call, an `epoch` column.
- `sampled_weights.csv`: the two sampled weights and the train loss, per epoch (and step).
- `run.lock`: who writes the folder now (`bn2d_study.run_folder.lock`); with no outcome recorded,
  it tells a run still going from one whose process is gone (`run_state`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bn2d_study.run_folder.lock import LOCK_FILE, STALE_AFTER_S, read_holder, stale_reason
from bn2d_study.utils.atomic_write import atomic_write_csv, atomic_write_text

RESOLVED_CONFIG_NAME = "resolved_config.yaml"
# Where the CSV logger (configs/logger/csv.yaml) writes.
METRICS_CSV = Path("csv") / "metrics.csv"
SAMPLED_WEIGHTS_CSV = "sampled_weights.csv"
SAMPLED_WEIGHTS_COLUMNS = ("kind", "epoch", "step", "w1", "w2", "train_loss")
CHECKPOINT_DIR = "checkpoints"
RUN_STATUS_FILE = "run_status.json"

COMPLETED = "completed"
FAILED = "failed"
INTERRUPTED = "interrupted"  # stopped by SIGTERM (preemption, time-out): resume=true continues it
DIVERGED = "diverged"  # the train loss became NaN or infinite: stopped, recorded, not redone
# Outcomes that `resume=true` leaves alone: the run is over.
FINAL_STATUSES = (COMPLETED, DIVERGED)


def write_run_status(
    run_dir: Path,
    status: str,
    metrics: dict[str, float] | None = None,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record the run's outcome (`completed`, `diverged`, `failed` or `interrupted`).

    `metrics` are the final metrics, `error` what went wrong, `detail` any further facts
    (e.g. the epoch and step of a divergence).
    """
    # JSON has no NaN: a diverged run's metrics are written as null.
    finite = {k: (v if math.isfinite(v) else None) for k, v in (metrics or {}).items()}
    record: dict[str, Any] = {"status": status, "metrics": finite, "execution": execution()}
    if error is not None:
        record["error"] = error
    record.update(detail or {})
    atomic_write_text(Path(run_dir) / RUN_STATUS_FILE, json.dumps(record, indent=2) + "\n")


def execution() -> dict[str, Any]:
    """Where this process runs: host, pid, and the SLURM job (None outside SLURM)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID"),
        "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
    }


def read_run_status(run_dir: Path) -> dict[str, Any] | None:
    """The recorded outcome, or None while the run has none (running, killed, or older runs)."""
    path = Path(run_dir) / RUN_STATUS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def holds_a_run(run_dir: Path) -> bool:
    """Whether a run has written into this folder (Hydra's own `.hydra/` and log aside)."""
    run_dir = Path(run_dir)
    checkpoints = run_dir / CHECKPOINT_DIR
    return any(
        (run_dir / name).exists()
        for name in (RUN_STATUS_FILE, RESOLVED_CONFIG_NAME, METRICS_CSV, SAMPLED_WEIGHTS_CSV)
    ) or (checkpoints.is_dir() and any(checkpoints.iterdir()))


def run_dir_of_checkpoint(checkpoint: Path) -> Path | None:
    """The run folder that saved `checkpoint` (`<run>/checkpoints/<name>.ckpt`), if it is one."""
    folder = Path(checkpoint).parent
    if folder.name == CHECKPOINT_DIR and (folder.parent / RESOLVED_CONFIG_NAME).is_file():
        return folder.parent
    return None


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
            if None in row.values():  # fewer fields than the header: the file was cut short
                raise ValueError(f"a row of {csv_path.name} is cut short")
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                target = final if key.startswith("best_ckpt/") else epochs.setdefault(epoch, {})
                target[key] = float(value)
    return epochs, final


def read_weight_path(csv_path: Path, kind: str = "epoch") -> list[tuple[float, float, float]]:
    """The (w1, w2, train_loss) records of one kind (`epoch` or `step`) of a `sampled_weights.csv`.

    In order; empty when the file does not exist.
    """
    if not csv_path.is_file():
        return []
    with csv_path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == kind]
    try:
        return [(float(r["w1"]), float(r["w2"]), float(r["train_loss"])) for r in rows]
    except TypeError as error:  # a row cut short: its missing fields read as None
        raise ValueError(f"a row of {csv_path.name} is cut short") from error


def keep_csv_rows(csv_path: Path, keep: Callable[[dict[str, str]], bool]) -> None:
    """Rewrite a CSV file (atomically) with only the rows `keep` accepts; header unchanged."""
    if not csv_path.is_file():
        return
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = [row for row in reader if keep(row)]
    atomic_write_csv(csv_path, rows, columns)


def rows_before_epoch(epoch: int) -> Callable[[dict[str, str]], bool]:
    """A `keep_csv_rows` rule for a run resuming at `epoch`: only the epochs it will not redo.

    Rows without an epoch, or of the final best-checkpoint test, are redone too.
    """

    def keep(row: dict[str, str]) -> bool:
        if not row.get("epoch") or any(k.startswith("best_ckpt/") and v for k, v in row.items()):
            return False
        return int(float(row["epoch"])) < epoch

    return keep


RUNNING = "running"  # no outcome yet, and a live process holds the folder
GONE = "gone"  # no outcome recorded, and no live process holds the folder


def run_state(run_dir: Path, stale_after_s: float = STALE_AFTER_S) -> tuple[str, str]:
    """The run's state and a note: its recorded outcome, else `running` or `gone`.

    Without `run_status.json`, the lock tells a run that is still going (its holder alive,
    its heartbeat fresh) from one whose process died before it could record anything
    (killed, or a disk too full to write the file).
    """
    status = read_run_status(run_dir)
    if status is not None:
        return str(status.get("status")), str(status.get("error", ""))
    holder = read_holder(Path(run_dir) / LOCK_FILE)
    if holder is None:
        return GONE, "no outcome recorded, and no process holds the run"
    reason = stale_reason(holder, stale_after_s)
    if reason is None:
        return RUNNING, f"still running: {holder.describe()}"
    return GONE, f"no outcome recorded, process gone ({reason})"
