"""Several runs of a sweep in one SLURM task (`hydra.launcher.runs_per_task`): `PackedRuns`.

A study run uses a few percent of a GPU; one task per run makes a sweep pay for a whole GPU
(and a job start) per run. A packed task runs its share of the sweep's runs as concurrent
processes on its allocation, `runs_at_once` at a time. Each run is the same Hydra job as an
unpacked one: its own folder, lock, `run_status.json`, random state and results.

The run processes are forked from a fork server that has imported torch, Lightning and this
project once, so a run starts in a fraction of a second instead of re-importing them (seconds).

Stops: on SIGTERM (scancel, preemption) every run process gets it and records `interrupted`;
on submitit's time-limit signal the task forwards SIGTERM to its runs, waits for them, and is
requeued with `resume=true`, so its finished runs are skipped and the others continue.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle
from hydra.core.utils import JobReturn, JobStatus

log = logging.getLogger(__name__)

# submitit's sbatch asks SLURM for this signal before the time limit (--signal=USR2@...).
_TIMEOUT_SIGNAL = signal.SIGUSR2
# What the fork server imports once for every run process it forks.
_PRELOAD = ["torch", "lightning", "bn2d_study.training"]
# A run's arguments to the launcher's `__call__`: overrides, dir key, number, id, singletons.
RunParams = tuple[list[str], str, int, str, dict]


def _run_one(launcher_bytes: bytes, params_bytes: bytes, sender: Connection) -> None:
    """In a run process: run one Hydra job as the launcher would, send back its JobReturn."""
    # submitit's time-limit signal is the task's to handle (it stops the runs with SIGTERM,
    # then requeues); SLURM sends it to every process of the task, runs included.
    signal.signal(_TIMEOUT_SIGNAL, signal.SIG_IGN)
    launcher = cloudpickle.loads(launcher_bytes)
    params = cloudpickle.loads(params_bytes)
    try:
        result: Any = launcher(*params)
    except BaseException as error:  # reported as this run's failure, like submitit would
        result = JobReturn(overrides=list(params[0]), status=JobStatus.FAILED, _return_value=error)
    try:
        sender.send_bytes(cloudpickle.dumps(result))
    except Exception as error:  # an unpicklable return value
        failed = JobReturn(
            overrides=list(params[0]),
            status=JobStatus.FAILED,
            _return_value=RuntimeError(str(error)),
        )
        sender.send_bytes(cloudpickle.dumps(failed))
    finally:
        sender.close()


def _failed(params: RunParams, why: str) -> JobReturn:
    return JobReturn(
        overrides=list(params[0]), status=JobStatus.FAILED, _return_value=RuntimeError(why)
    )


def _received(receiver: Connection, params: RunParams) -> JobReturn:
    try:
        return cloudpickle.loads(receiver.recv_bytes())
    except EOFError:
        return _failed(params, "its process closed its pipe without a result")


class _StopFlag:
    """True once this process got SIGTERM; the earlier handler (submitit's) still runs."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.stopped = True
        if callable(self._previous):
            self._previous(signum, frame)

    def __bool__(self) -> bool:
        return self.stopped


def with_resume(overrides: Sequence[str]) -> list[str]:
    """The overrides of a requeued run: the same, with resume=true (skip or continue)."""
    kept = [o for o in overrides if o.lstrip("+~").partition("=")[0] != "resume"]
    return [*kept, "resume=true"]


class PackedRuns:
    """The callable of a packed SLURM task: runs its runs, `runs_at_once` at a time."""

    def __init__(self, launcher: Any, runs_at_once: int) -> None:
        self.launcher = launcher
        self.runs_at_once = max(1, runs_at_once)
        self._running: dict[int, multiprocessing.Process] = {}

    def __call__(self, runs: Sequence[RunParams]) -> list[JobReturn]:
        """Run every run of this task; their JobReturns, in order.

        After SIGTERM (the runs got it too, and stop) no further run is started: those left
        are reported as not started, and `resume=true` runs them.
        """
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        launcher_bytes = cloudpickle.dumps(self.launcher)
        results: dict[int, JobReturn] = {}
        pending = list(enumerate(runs))
        receivers: dict[int, Connection] = {}
        stopped = _StopFlag()
        while pending or self._running:
            if stopped:
                for index, params in pending:
                    results[index] = _failed(
                        params,
                        "not started: its task was stopped by SIGTERM (cancelled, "
                        "preempted or out of time)",
                    )
                pending = []
            while pending and len(self._running) < self.runs_at_once:
                index, params = pending.pop(0)
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=_run_one,
                    args=(launcher_bytes, cloudpickle.dumps(params), sender),
                    name=f"run-{params[2]}",
                )
                process.start()
                sender.close()
                self._running[index] = process
                receivers[index] = receiver
            for index, process in list(self._running.items()):
                receiver = receivers[index]
                # Read as soon as a result is there: a large one would block its sender.
                if index not in results and receiver.poll():
                    results[index] = _received(receiver, runs[index])
                if not process.is_alive():
                    process.join()
                    if index not in results:
                        results[index] = (
                            _received(receiver, runs[index])
                            if receiver.poll()
                            else _failed(
                                runs[index],
                                f"its process ended with exit code {process.exitcode} and no "
                                f"result (killed?)",
                            )
                        )
                    receiver.close()
                    del self._running[index]
            time.sleep(0.05)
        return [results[index] for index in range(len(runs))]

    def stop_runs(self) -> None:
        """SIGTERM every running run (each records `interrupted`), and wait for them."""
        for process in self._running.values():
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in self._running.values():
            process.join(timeout=120)

    def checkpoint(self, runs: Sequence[RunParams]) -> Any:
        """submitit's time-limit hook: stop the runs cleanly, then requeue this task with
        resume=true (finished runs are skipped, interrupted ones continue)."""
        import submitit

        self.stop_runs()
        requeued = [(with_resume(p[0]), *p[1:]) for p in runs]
        return submitit.helpers.DelayedSubmission(
            PackedRuns(self.launcher, self.runs_at_once), requeued
        )

    def __getstate__(self) -> dict[str, Any]:
        # Run processes are this task's own: a requeued copy starts with none.
        return {"launcher": self.launcher, "runs_at_once": self.runs_at_once, "_running": {}}
