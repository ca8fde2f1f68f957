"""One writer per run folder: `RunLock`, held for a run's whole life, safe on shared file systems.

The lock is the file `<run>/run.lock`, created by hard-linking a complete temp file onto that
name: a link fails if the name exists, atomically, on local disks and on NFS alike (where
O_EXCL was long unreliable). The file names its holder (host, pid, SLURM job). While the run
lives, a thread touches the file every `heartbeat_s`; its modification time is the heartbeat.

A lock is stale, and is taken over, when its holder's pid is gone on this host, when this
process continues the holder's SLURM job (a requeued job), or when its heartbeat is older
than `stale_after_s` (a holder on another host that died). Take-overs go through a second,
short-lived lock file, so two processes never both take over the same stale lock.
Hosts that share a run folder must agree on the time to within `stale_after_s` (NTP does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
# A take-over takes milliseconds; a guard file older than this was left by a crashed process.
_GUARD_STALE_S = 60.0


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run folder's lock, and how recently it showed signs of life."""

    host: str
    pid: int
    slurm_job_id: str | None
    token: str
    since: float  # when the lock was taken (Unix time)
    heartbeat_age_s: float  # seconds since the holder last touched the lock

    def describe(self) -> str:
        """`host h, pid 12 (SLURM job 34), heartbeat 5 s ago`."""
        job = f" (SLURM job {self.slurm_job_id})" if self.slurm_job_id else ""
        return f"host {self.host}, pid {self.pid}{job}, heartbeat {self.heartbeat_age_s:.0f} s ago"


class RunHeldError(Exception):
    """The run folder is held by another live process."""

    def __init__(self, run_dir: Path, holder: LockHolder) -> None:
        super().__init__(f"{run_dir} is held by {holder.describe()}")
        self.run_dir = run_dir
        self.holder = holder


def _this_process() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": _slurm_job_id(),
        "since": time.time(),
    }


def _slurm_job_id() -> str | None:
    """The SLURM job this process belongs to; array tasks as `<array job>_<task>`."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def read_holder(lock_path: Path) -> LockHolder | None:
    """The holder recorded in a lock file; None if there is no lock file.

    A lock file that cannot be parsed (written by hand, or damaged) still has a holder: an
    unknown one, alive until its modification time is older than the staleness limit.
    """
    try:
        stat = lock_path.stat()
        text = lock_path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        text, stat = "", None
    heartbeat = stat.st_mtime if stat is not None else time.time()
    age = max(0.0, time.time() - heartbeat)
    try:
        record = json.loads(text)
        return LockHolder(
            host=str(record["host"]),
            pid=int(record["pid"]),
            slurm_job_id=record.get("slurm_job_id"),
            token=str(record["token"]),
            since=float(record.get("since", heartbeat)),
            heartbeat_age_s=age,
        )
    except (ValueError, KeyError, TypeError):
        token = f"unreadable-{stat.st_mtime_ns if stat else 0}-{len(text)}"
        return LockHolder("unknown host", -1, None, token, heartbeat, age)


def stale_reason(holder: LockHolder, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Why the holder is presumed dead, or None while it may still be running."""
    if holder.host == socket.gethostname() and holder.pid > 0 and not _pid_alive(holder.pid):
        return f"its process {holder.pid} is gone"
    job = _slurm_job_id()
    if job is not None and holder.slurm_job_id == job and holder.pid != os.getpid():
        return f"this process continues its SLURM job {job} (requeued)"
    if holder.heartbeat_age_s > stale_after_s:
        return f"no heartbeat for {holder.heartbeat_age_s:.0f} s (limit {stale_after_s:.0f} s)"
    return None


def _link_new_file(target: Path, text: str) -> bool:
    """Create `target` holding `text`, complete, unless it exists: True if this call made it."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    tmp.write_text(text)
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


class RunLock:
    """Hold `<run_dir>/run.lock` for the life of a run (a context manager).

    `acquire()` raises `RunHeldError` when a live process holds the folder, and takes over a
    stale lock (see the module's docstring). `release()` removes the lock if it is still ours.
    """

    def __init__(
        self,
        run_dir: Path,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.token = secrets.token_hex(8)
        self._record = json.dumps({**_this_process(), "token": self.token}) + "\n"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, or raise `RunHeldError` naming the live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not _link_new_file(self.path, self._record):
            holder = read_holder(self.path)
            if holder is None:
                continue  # released or replaced just now: try again
            reason = stale_reason(holder, self.stale_after_s)
            if reason is None:
                raise RunHeldError(self.path.parent, holder)
            if self._take_over(holder):
                log.warning(
                    "Took over %s from %s: %s.", self.path.parent, holder.describe(), reason
                )
                break
        self._thread = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)
        self._thread.start()

    def _take_over(self, stale: LockHolder) -> bool:
        """Replace the stale lock by ours, unless another process got there first."""
        guard = self.path.with_name(self.path.name + ".takeover")
        if not _link_new_file(guard, self._record):
            with contextlib.suppress(OSError):
                if time.time() - guard.stat().st_mtime > _GUARD_STALE_S:
                    guard.unlink()
            time.sleep(0.05)
            return False
        try:
            current = read_holder(self.path)
            if current is not None and current.token != stale.token:
                return False  # someone else took it over already: look again from the start
            self.path.unlink(missing_ok=True)
            return _link_new_file(self.path, self._record)
        finally:
            guard.unlink(missing_ok=True)

    def owned(self) -> bool:
        """Whether the lock file on disk is still this process's."""
        holder = read_holder(self.path)
        return holder is not None and holder.token == self.token

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.owned():
                    log.error(
                        "The lock of %s was taken over by another process (this one was "
                        "presumed dead); stop this run and check the folder.",
                        self.path.parent,
                    )
                    return
                os.utime(self.path)
            except OSError as error:  # e.g. the shared file system is briefly unreachable
                log.warning("Could not renew the lock %s: %s", self.path, error)

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with contextlib.suppress(OSError):
            if self.owned():
                self.path.unlink()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
