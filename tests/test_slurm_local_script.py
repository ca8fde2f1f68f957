"""scripts/slurm-local.sh itself: `up` on a machine that stopped without `down`.

A container restart keeps /run on disk: the pids file, the daemons' pid files and slurmctld's
saved jobs outlive the daemons. CI's `make test-slurm` met exactly that. Runs in the
no-accounting phase of `make test-slurm`, whose cluster restarts in seconds.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers.slurm_cluster import accounting_works, cluster_is_up, require_cluster

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm-local.sh"
STATE = Path(os.environ.get("SLURM_LOCAL_STATE", "/run/slurm-local"))


def recorded_daemons() -> list[tuple[str, int]]:
    """(name, pid) of each daemon slurm-local.sh recorded."""
    rows = [line.split() for line in (STATE / "pids").read_text().splitlines()]
    return [(name, int(pid)) for name, pid in rows if name != "namespaces"]


def squeue_ids() -> list[str]:
    listed = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


@pytest.mark.slurm_no_accounting
def test_up_after_the_machine_stopped_clears_the_old_cluster_and_starts_a_working_one() -> None:
    require_cluster(with_accounting=False)
    if not (STATE / "pids").is_file():
        pytest.skip(f"the cluster was not started by scripts/slurm-local.sh ({STATE}/pids)")

    marker = "slurm-local-stale-state-test"
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--job-name={marker}",
            "--output=/dev/null",
            "--wrap",
            "sleep 600",
        ],
        capture_output=True,
        text=True,
    )
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 30
    while job not in squeue_ids() and time.monotonic() < deadline:
        time.sleep(0.5)

    # The machine stops: every daemon and the job's processes die at once; /run stays.
    old = recorded_daemons()
    for _, pid in old:
        os.kill(pid, 9)
    subprocess.run(["pkill", "-9", "slurmstepd"], check=False)
    subprocess.run(["pkill", "-9", "-f", "sleep 600"], check=False)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for _, pid in old) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (STATE / "pids").is_file()

    started = subprocess.run(
        ["bash", str(SCRIPT), "up"],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_LOCAL_ACCOUNTING": "0"},
        timeout=180,
    )
    assert started.returncode == 0, started.stderr
    assert "clearing that state and starting afresh" in started.stderr
    new = recorded_daemons()
    assert {name for name, _ in new} == {name for name, _ in old}
    assert not {pid for _, pid in new} & {pid for _, pid in old}
    for name, pid in new:  # the recorded pids are the new daemons', not stale pid files'
        assert Path(f"/proc/{pid}/comm").read_text().strip() == name
    assert job not in squeue_ids()  # the saved job did not come back to hold the node
    assert cluster_is_up(wait_s=0)
    assert not accounting_works()
    ran = subprocess.run(["srun", "-N1", "-n1", "true"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
