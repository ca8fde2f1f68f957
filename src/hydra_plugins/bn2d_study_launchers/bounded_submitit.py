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
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher
from omegaconf import OmegaConf

from bn2d_study.cluster.slurm_tasks import layout_problem
from bn2d_study.config.resolvers import run_name
from bn2d_study.run_folder.sweep_summary import SweepIncompleteError

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
    """`launch` of a submitit launcher, with the bounded wait described in the module doc, and
    optionally several runs per task (`runs_per_task`, `runs_at_once`: packed_runs.py)."""

    poll_s: float
    lost_after_s: float
    runs_per_task: int
    runs_at_once: int | None

    def _take_wait_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """Pop this mixin's settings out of the launcher's parameters (submitit rejects them)."""
        self.poll_s = float(params.pop("poll_s", 5.0))
        self.lost_after_s = float(params.pop("lost_after_s", 120.0))
        self.runs_per_task = int(params.pop("runs_per_task", 1) or 1)
        at_once = params.pop("runs_at_once", None)
        self.runs_at_once = int(at_once) if at_once else None
        return params

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Submit the jobs, wait for all of them (boundedly), name the runs that ended badly."""
        if self.runs_per_task > 1:
            jobs, groups = self._submit_packed(job_overrides, initial_job_idx)
        else:
            jobs = self._submit(job_overrides, initial_job_idx)
            groups = [[index] for index in range(len(job_overrides))]
        lost = self._wait(jobs)
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        unfinished: list[str] = []

        def name(index: int) -> str:
            # Named as its run folder is (configs/hydra/default.yaml).
            overrides = filter_overrides(job_overrides[index])
            return f"{initial_job_idx + index}_{run_name(overrides)}"

        for job, group in zip(jobs, groups, strict=True):
            try:
                if job.job_id in lost:
                    # Its state stays "unknown" to submitit, whose wait would never end.
                    raise RuntimeError(lost[job.job_id])
                result = job.results()[0]
                task_returns = result if self.runs_per_task > 1 else [result]
            except Exception as error:  # the job's own exception, or submitit's "no result"
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                for index in group:
                    unfinished.append(
                        f"  {name(index)}: job {job.job_id}, scheduler state {job.state}: "
                        f"{first_line[:200]}"
                    )
                    returns[index] = JobReturn(
                        status=JobStatus.FAILED, overrides=list(job_overrides[index])
                    )
                continue
            for index, job_return in zip(group, task_returns, strict=True):
                if job_return.status == JobStatus.FAILED:
                    why = _why(job_return._return_value)
                    unfinished.append(f"  {name(index)}: in job {job.job_id}: {why}")
                returns[index] = job_return
        if unfinished:
            error = SweepIncompleteError(
                f"{len(unfinished)} of {len(job_overrides)} runs did not finish:\n"
                + "\n".join(unfinished)
                + "\nRerun the same command with resume=true to complete them (finished runs "
                "are skipped)."
            )
            for job_return in returns:
                if job_return is not None and job_return.status == JobStatus.FAILED:
                    job_return.return_value = error  # raised by Hydra once the sweep is over
        return [r for r in returns if r is not None]

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's time-limit hook for an unpacked run: requeue it with resume=true, so
        that it continues from its last whole epoch instead of being refused its own folder."""
        import submitit

        from hydra_plugins.bn2d_study_launchers.packed_runs import with_resume

        return submitit.helpers.DelayedSubmission(self, with_resume(args[0]), *args[1:], **kwargs)

    def _submit_packed(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> tuple[list[Any], list[list[int]]]:
        """Submit one task per `runs_per_task` runs; the jobs, and each one's run indices."""
        from hydra_plugins.bn2d_study_launchers.packed_runs import PackedRuns

        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))  # type: ignore[attr-defined]
        sweep_dir.mkdir(parents=True, exist_ok=True)
        params = []
        for index, overrides in enumerate(job_overrides):
            number = initial_job_idx + index
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            params.append(
                (
                    list(overrides),
                    "hydra.sweep.dir",
                    number,
                    f"job_id_for_{number}",
                    Singleton.get_state(),
                )
            )
        size = self.runs_per_task
        groups = [list(range(i, min(i + size, len(params)))) for i in range(0, len(params), size)]
        at_once = min(self.runs_at_once or size, size)
        log.info(
            f"Packed: {len(params)} runs in {len(groups)} tasks of up to {size} runs, "
            f"{at_once} at a time"
        )
        jobs = executor.map_array(
            PackedRuns(self, at_once), [[params[i] for i in group] for group in groups]
        )
        return list(jobs), groups

    def _executor(self) -> Any:
        """A submitit executor with the launcher's settings, as Hydra's launcher builds it."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        kind = self._EXECUTOR  # type: ignore[attr-defined]
        params = dict(self.params)  # type: ignore[attr-defined]
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{kind}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=kind, **init)
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in shared else f"{kind}_{k}": v for k, v in params.items()}
        )
        return executor

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


def _why(error: BaseException | None) -> str:
    """A run's failure in one line."""
    if isinstance(error, SystemExit) and error.code == 128 + signal.SIGTERM:
        return "stopped by SIGTERM (cancelled, preempted or out of time): interrupted"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}"


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
            for overrides in job_overrides:
                problem = self._layout_problem(overrides, tasks, nodes)
                if problem is not None:
                    raise LauncherSettingError(f"Nothing was submitted: {problem}")
        return super().launch(job_overrides, initial_job_idx)

    def _layout_problem(self, overrides: Sequence[str], tasks: int, nodes: int) -> str | None:
        """`layout_problem` for one run's config, composed (and its interpolations resolved)
        as the job will compose it."""
        assert self.hydra_context is not None and self.config is not None
        config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        # The config's resolvers read the launcher's settings from the job's Hydra config,
        # which Hydra sets only inside the job.
        hydra_config = HydraConfig.instance()
        previous = hydra_config.cfg
        hydra_config.set_config(config)
        try:
            return layout_problem(config.trainer, tasks, nodes, self.params.get("gpus_per_node"))
        finally:
            hydra_config.cfg = previous


class BoundedLocalLauncher(BoundedWaitMixin, LocalLauncher):
    """Hydra's submitit local launcher with the same bounded wait."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.params = self._take_wait_settings(self.params)
