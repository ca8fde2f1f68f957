"""Submitit launchers whose sweeps end in bounded time, whatever happens to their jobs.

Hydra's submitit launchers wait for each job's result in turn. Submitit asks `sacct` about a
job's state only every 10 minutes after the first check, and without SLURM accounting it
never learns that a job ended without a result (cancelled, out of time, killed for memory):
the sweep waits forever. These launchers poll every job every `poll_s` seconds:

- a job is finished when its result file exists, or when the scheduler says it ended
  (`sacct` with accounting; for local jobs, the process);
- on a cluster without accounting, a job that has left the queue (`squeue`) and still has
  no result after `lost_after_s` seconds is counted as ended without a result. When `squeue`
  cannot be reached either, the same limit applies from the first failed call.

When every job has ended, the sweep names the runs that did not finish and fails, so that
`resume=true` completes them.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher

from bn2d_study.sweep_summary import SweepIncompleteError
from bn2d_study.utils.resolvers import run_name
from bn2d_study.utils.slurm_tasks import layout_problem

log = logging.getLogger(__name__)


def squeue_job_ids() -> set[str] | None:
    """Ids of the jobs SLURM still has queued or running (array tasks as `123_4`), or None
    when `squeue` cannot be reached."""
    try:
        listing = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {line.strip() for line in listing.stdout.splitlines() if line.strip()}


class BoundedWaitMixin:
    """`launch` of a submitit launcher, with the bounded wait described in the module doc."""

    poll_s: float
    lost_after_s: float

    def _take_wait_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """Pop this mixin's settings out of the launcher's parameters (submitit rejects them)."""
        self.poll_s = float(params.pop("poll_s", 5.0))
        self.lost_after_s = float(params.pop("lost_after_s", 120.0))
        return params

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Submit the jobs, wait for all of them (boundedly), name the ones that ended badly."""
        jobs = self._submit(job_overrides, initial_job_idx)
        lost = self._wait(jobs)
        returns: list[JobReturn] = []
        unfinished: list[str] = []
        for index, (job, overrides) in enumerate(zip(jobs, job_overrides, strict=True)):
            try:
                if job.job_id in lost:
                    # Its state stays "unknown" to submitit, whose wait would never end.
                    raise RuntimeError(lost[job.job_id])
                returns.append(job.results()[0])
            except Exception as error:  # the job's own exception, or submitit's "no result"
                # Named as its run folder is (configs/hydra/default.yaml).
                name = f"{initial_job_idx + index}_{run_name(filter_overrides(overrides))}"
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                unfinished.append(
                    f"  {name}: job {job.job_id}, scheduler state {job.state}: {first_line[:200]}"
                )
                returns.append(JobReturn(status=JobStatus.FAILED, overrides=list(overrides)))
        if unfinished:
            error = SweepIncompleteError(
                f"{len(unfinished)} of {len(jobs)} runs did not finish:\n"
                + "\n".join(unfinished)
                + "\nRerun the same command with resume=true to complete them (finished runs "
                "are skipped)."
            )
            for job_return in returns:
                if job_return.status == JobStatus.FAILED:
                    job_return.return_value = error  # raised by Hydra once the sweep is over
        return returns

    def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
        """Submit like Hydra's launcher does, returning the jobs without waiting for them."""
        jobs: list[Any] = []
        original_results = _capture_jobs(jobs)
        try:
            super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
        finally:
            original_results()
        return jobs

    def _wait(self, jobs: Sequence[Any]) -> dict[str, str]:
        """Poll until every job has ended; returns the lost ones: job id -> what happened."""
        pending = {job.job_id: job for job in jobs}
        gone_since: dict[str, float] = {}
        lost: dict[str, str] = {}
        from submitit.slurm.slurm import SlurmJob  # lazy: plugin discovery imports this module

        watcher = SlurmJob.watcher if jobs and isinstance(jobs[0], SlurmJob) else None
        while pending:
            if watcher is not None:
                watcher.update()  # one sacct call for all jobs (submitit would wait 10 min)
            in_queue = squeue_job_ids() if watcher is not None else set(pending)
            now = time.monotonic()
            for job_id, job in list(pending.items()):
                if job.paths.result_pickle.exists() or (
                    watcher.is_done(job_id, mode="cache") if watcher is not None else job.done()
                ):
                    del pending[job_id]
                elif in_queue is None or job_id not in in_queue:
                    since = gone_since.setdefault(job_id, now)
                    if now - since > self.lost_after_s:
                        lost[job_id] = (
                            f"not in squeue for {self.lost_after_s:.0f} s and no result: "
                            f"cancelled, out of time or killed, on a cluster without accounting"
                        )
                        log.warning("Job %s %s.", job_id, lost[job_id])
                        del pending[job_id]
                else:
                    gone_since.pop(job_id, None)
            if pending:
                time.sleep(self.poll_s)
        return lost


def _capture_jobs(jobs: list[Any]) -> Any:
    """Make submitit's `Job.results` return at once, recording the jobs; returns the undo.

    Hydra's launcher submits, then calls `results()` on each job, which blocks. Capturing
    them lets the bounded wait above take over right after the submission.
    """
    import submitit

    original = submitit.core.core.Job.results

    def record(job: Any) -> list[Any]:
        jobs.append(job)
        return [None]

    submitit.core.core.Job.results = record

    def undo() -> None:
        submitit.core.core.Job.results = original

    return undo


class LauncherSettingError(CompactHydraException):
    """The launcher's settings and a run's config disagree; refused before submission."""


class BoundedSlurmLauncher(BoundedWaitMixin, SlurmLauncher):
    """Hydra's submitit SLURM launcher with a bounded wait (`poll_s`, `lost_after_s`), which
    refuses, before submitting anything, runs whose trainer cannot use the SLURM tasks asked
    for (`tasks_per_node` x `nodes` > 1 is DDP through SLURM: one task per device)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.params = self._take_wait_settings(self.params)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Check every run's task layout, then submit and wait."""
        tasks, nodes = int(self.params["tasks_per_node"]), int(self.params["nodes"])
        if tasks * nodes > 1:
            assert self.hydra_context is not None and self.config is not None
            for overrides in job_overrides:
                config = self.hydra_context.config_loader.load_sweep_config(
                    self.config, list(overrides)
                )
                problem = layout_problem(
                    config.trainer, tasks, nodes, self.params.get("gpus_per_node")
                )
                if problem is not None:
                    raise LauncherSettingError(f"Nothing was submitted: {problem}")
        return super().launch(job_overrides, initial_job_idx)


class BoundedLocalLauncher(BoundedWaitMixin, LocalLauncher):
    """Hydra's submitit local launcher with the same bounded wait."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.params = self._take_wait_settings(self.params)
