"""`SweepSummary`: at the end of a multirun, name every run that did not finish, and why.

A Hydra callback (configs/hydra/default.yaml). Jobs whose setup is wrong, whose disk filled up
or whose process was lost return normally to Hydra, so that the sweep goes on with its other
runs; this summary then lists them from their run folders and makes the sweep exit with
status 1. Diverged runs and runs held by another live process are listed but are not
failures.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bn2d_study.run_folder.files import (
    COMPLETED,
    DIVERGED,
    RUNNING,
    run_state,
)

log = logging.getLogger(__name__)

# Job folders whose Hydra files were written after the sweep started (less this margin, for
# clocks of cluster nodes that run a little behind) belong to this sweep.
_CLOCK_MARGIN_S = 60.0


class SweepIncompleteError(CompactHydraException):
    """Some runs of the sweep failed or ended without an outcome; the message names them."""


def sweep_job_folders(sweep_dir: Path, since: float) -> list[Path]:
    """The job folders under `sweep_dir` that Hydra set up at or after `since`."""
    folders = []
    for overrides in sorted(sweep_dir.rglob(".hydra/overrides.yaml")):
        if overrides.stat().st_mtime >= since - _CLOCK_MARGIN_S:
            folders.append(overrides.parent.parent)
    return folders


class SweepSummary(Callback):
    """Log the state of each run of the multirun at its end; fail if any run failed."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the start: the job folders set up after it are this sweep's."""
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Name the runs that did not complete; raise if any failed or was lost."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        states = {
            folder: run_state(folder, float(config.run_lock.stale_after_s))
            for folder in sweep_job_folders(sweep_dir, self.started)
        }
        others = {f: s for f, s in states.items() if s[0] != COMPLETED}
        if not others:
            log.info("All %d runs of %s completed.", len(states), sweep_dir)
            return
        lines = [
            f"  {folder.relative_to(sweep_dir)}: {state}{f' ({note})' if note else ''}"
            for folder, (state, note) in others.items()
        ]
        failures = [f for f, (state, _) in others.items() if state not in (DIVERGED, RUNNING)]
        summary = (
            f"{len(others)} of {len(states)} runs of {sweep_dir} did not complete:\n"
            + "\n".join(lines)
        )
        if not failures:
            log.warning("%s", summary)
            return
        raise SweepIncompleteError(
            f"{summary}\nFix what the notes say, then rerun the same command with resume=true "
            f"(and hydra.sweep.dir={sweep_dir}): completed and diverged runs are skipped, the "
            f"others continue from their last checkpoint."
        )
