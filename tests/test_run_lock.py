"""RunLock with real processes: one holder at a time, stale locks taken over, the run's state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from bn2d_study.run_folder.files import GONE, RUNNING, run_state, write_run_status
from bn2d_study.run_folder.lock import LOCK_FILE, RunHeldError, RunLock, read_holder

HOLD = (
    "import sys, time\n"
    "from bn2d_study.run_folder.lock import RunLock\n"
    "lock = RunLock(sys.argv[1], heartbeat_s=0.2)\n"
    "lock.acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `tmp_path/run`'s lock, heartbeat every 0.2 s."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def write_lock(run: Path, host: str, pid: int, age_s: float, slurm_job: str | None = None) -> None:
    """A lock file as another process would leave it, its heartbeat `age_s` old."""
    run.mkdir(parents=True, exist_ok=True)
    record = {"host": host, "pid": pid, "slurm_job_id": slurm_job, "since": 0, "token": "old"}
    (run / LOCK_FILE).write_text(json.dumps(record))
    stamp = time.time() - age_s
    os.utime(run / LOCK_FILE, (stamp, stamp))


def test_a_live_holder_keeps_the_folder_and_is_named(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    run = tmp_path / "run"
    with pytest.raises(RunHeldError) as held:
        RunLock(run).acquire()
    assert held.value.holder.pid == holder.pid
    assert held.value.holder.host == socket.gethostname()
    assert f"pid {holder.pid}" in held.value.holder.describe()
    assert run_state(run)[0] == RUNNING
    # The heartbeat renews the lock file's time while the holder lives.
    first = (run / LOCK_FILE).stat().st_mtime_ns
    time.sleep(0.6)
    assert (run / LOCK_FILE).stat().st_mtime_ns > first


def test_a_killed_holder_is_gone_and_its_lock_is_taken_over(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    run = tmp_path / "run"
    holder.kill()
    holder.wait()
    state, note = run_state(run)
    assert state == GONE and f"its process {holder.pid} is gone" in note
    with RunLock(run) as lock:
        assert lock.owned()
        assert read_holder(run / LOCK_FILE).pid == os.getpid()  # type: ignore[union-attr]
    assert not (run / LOCK_FILE).exists()  # released
    assert run_state(run) == (GONE, "no outcome recorded, and no process holds the run")


def test_a_holder_on_another_host_counts_until_its_heartbeat_is_stale(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_lock(run, "node-17", 4242, age_s=5)
    with pytest.raises(RunHeldError, match="host node-17, pid 4242"):
        RunLock(run, stale_after_s=60).acquire()
    write_lock(run, "node-17", 4242, age_s=120)
    assert run_state(run, stale_after_s=60)[0] == GONE
    with RunLock(run, stale_after_s=60) as lock:
        assert lock.owned()


def test_a_requeued_slurm_job_takes_over_its_own_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    write_lock(run, "node-3", 99, age_s=1, slurm_job="812_4")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "812")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    with RunLock(run) as lock:
        assert lock.owned()


def test_a_recorded_outcome_is_the_state(tmp_path: Path) -> None:
    write_run_status(tmp_path, "failed", error="OSError: disk full")
    assert run_state(tmp_path) == ("failed", "OSError: disk full")


def _try_take(run: str) -> bool:
    try:
        lock = RunLock(Path(run), stale_after_s=60)
        lock.acquire()
    except RunHeldError:
        return False
    time.sleep(1.0)  # hold it while the others try
    assert lock.owned()
    return True


def test_of_many_processes_taking_over_one_stale_lock_exactly_one_wins(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_lock(run, "dead-host", 1, age_s=600)
    with ProcessPoolExecutor(max_workers=6) as pool:
        winners = list(pool.map(_try_take, [str(run)] * 6))
    assert sum(winners) == 1
