"""What a run folder holds: its file names, and `run_status.json`, the run's outcome.

`run_status.json` is written last by every run: `completed` with the final metrics, or `failed`
with the error, and where it ran (host, pid, SLURM job).
"""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any

from bn2d_study.utils.atomic_write import atomic_write_text

RESOLVED_CONFIG_NAME = "resolved_config.yaml"
# Where the CSV logger (configs/logger/csv.yaml) writes.
METRICS_CSV = Path("csv") / "metrics.csv"
RUN_STATUS_FILE = "run_status.json"
COMPLETED = "completed"
FAILED = "failed"
INTERRUPTED = "interrupted"  # stopped by SIGTERM (preemption, time-out): resume=true continues it


def write_run_status(
    run_dir: Path,
    status: str,
    metrics: dict[str, float] | None = None,
    error: str | None = None,
) -> None:
    """Record the run's outcome (`completed`, `failed` or `interrupted`), metrics or error."""
    # JSON has no NaN: a diverged run's metrics are written as null.
    finite = {k: (v if math.isfinite(v) else None) for k, v in (metrics or {}).items()}
    record: dict[str, Any] = {"status": status, "metrics": finite, "execution": execution()}
    if error is not None:
        record["error"] = error
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
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
