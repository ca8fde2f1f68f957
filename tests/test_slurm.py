"""Sweeps through a real SLURM cluster (scripts/slurm-local.sh up): each run is a SLURM job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import launch, tiny_data_overrides

pytestmark = pytest.mark.slurm

# Every wait is bounded: without accounting, submitit sees a job that SLURM killed as running
# forever (../shared/docs/slurm-on-one-machine.md), so the sweep would never return.
SWEEP_TIMEOUT_S = 300


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return states.returncode == 0 and "idle" in states.stdout


@pytest.fixture(autouse=True)
def slurm_cluster() -> None:
    if not cluster_is_up():
        if os.environ.get("CI"):
            pytest.fail("no idle SLURM node: CI must run `bash scripts/slurm-local.sh up` first")
        pytest.skip("no SLURM cluster: run `sudo bash scripts/slurm-local.sh up` (make test-slurm)")


def test_multirun_runs_each_job_as_a_slurm_job(tiny_archive: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    process = launch(
        [
            "-m",
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=5",
            "debug=fast",
            "model.use_batchnorm=true,false",
            f"hydra.sweep.dir={sweep}",
            *tiny_data_overrides(tiny_archive, tmp_path / "data"),
        ],
        tmp_path,
    )
    try:
        output, _ = process.communicate(timeout=SWEEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        subprocess.run(["scancel", "--name=train"], check=False)
        pytest.fail(f"the SLURM sweep did not finish in {SWEEP_TIMEOUT_S} s:\n{output[-3000:]}")
    assert process.returncode == 0, output[-4000:]

    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [r.name for r in runs] == [
        "0_debug=fast,use_batchnorm=true",
        "1_debug=fast,use_batchnorm=false",
    ]
    job_ids = set()
    for run in runs:
        status = json.loads((run / "run_status.json").read_text())
        assert status["status"] == "completed"
        assert status["metrics"]["test/acc"] is not None
        execution = status["execution"]
        assert execution["slurm_job_id"] is not None
        job_ids.add(execution["slurm_job_id"])
        # submitit keeps each job's files under <sweep>/.submitit/<array job>_<task>
        array_job = f"{execution['slurm_array_job_id']}_{execution['slurm_array_task_id']}"
        assert (sweep / ".submitit" / array_job).is_dir()
        assert (run / "csv" / "metrics.csv").is_file()
    assert len(job_ids) == 2  # two SLURM jobs, one per run
