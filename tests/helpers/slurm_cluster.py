"""The local SLURM cluster of scripts/slurm-local.sh, as the SLURM tests find it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest


def cluster_is_up(wait_s: float = 60) -> bool:
    """Whether the cluster has an idle node, waiting a little for the last test's jobs to
    finish completing."""
    if shutil.which("sinfo") is None:
        return False
    deadline = time.monotonic() + wait_s
    while True:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        if states.returncode == 0 and "idle" in states.stdout:
            return True
        if states.returncode != 0 or time.monotonic() > deadline:
            return False
        time.sleep(1)


def accounting_works() -> bool:
    return subprocess.run(["sacct", "-n", "-X"], capture_output=True).returncode == 0


def require_cluster(with_accounting: bool) -> None:
    """Skip (fail in CI) unless the local cluster is up, with or without accounting."""
    problem = None
    if not cluster_is_up():
        problem = "no idle SLURM node: run `sudo bash scripts/slurm-local.sh up` (make test-slurm)"
    elif accounting_works() != with_accounting:
        problem = f"this test needs a cluster {'with' if with_accounting else 'without'} accounting"
        problem += " (SLURM_LOCAL_ACCOUNTING=0 scripts/slurm-local.sh up starts one without)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI's make test-slurm starts the cluster each test needs")
        pytest.skip(problem)
