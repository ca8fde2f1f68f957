"""Resumable multiruns: SIGKILL a real run mid-epoch, rerun the sweep, get the same results."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from conftest import finish, launch, make_dhcd_zip

TRAIN_PER_CLASS, TEST_PER_CLASS = 100, 10


def run_args(archive: Path, data_dir: Path) -> list[str]:
    """Four epochs of 250 small batches: long enough to be killed in the middle of one."""
    return [
        f"data.archive={archive}",
        f"data.data_dir={data_dir}",
        f"data.train_per_class={TRAIN_PER_CLASS}",
        f"data.test_per_class={TEST_PER_CLASS}",
        "data.batch_size=4",
        "trainer.max_epochs=4",
        "trainer.deterministic=true",
        "callbacks.sampled_weights.every_step=true",
        "print_config=false",
    ]


def job_folder(sweep: Path, job: int) -> Path:
    (folder,) = sweep.glob(f"{job}_*")
    return folder


def run_outputs(run: Path) -> dict[Path, int]:
    """Modification times of what the run wrote (Hydra rewrites .hydra/ and its log at launch)."""
    return {
        p: p.stat().st_mtime_ns
        for p in run.rglob("*")
        if ".hydra" not in p.parts and p.name != "train.log"
    }


def status(run: Path) -> dict:
    return json.loads((run / "run_status.json").read_text())


def weight_rows(run: Path) -> list[str]:
    return (run / "sampled_weights.csv").read_text().splitlines()


@pytest.mark.slow
def test_killed_multirun_resumes_to_the_results_of_an_uninterrupted_run(tmp_path: Path) -> None:
    archive = make_dhcd_zip(tmp_path / "dhcd.zip", TRAIN_PER_CLASS, TEST_PER_CLASS)
    args = run_args(archive, tmp_path / "data")
    reference = tmp_path / "reference"
    finish(launch([*args, "seed=2", f"hydra.run.dir={reference}"], tmp_path))

    sweep = tmp_path / "sweep"
    sweep_args = ["-m", *args, "seed=1,2,3", f"hydra.sweep.dir={sweep}"]
    process = launch(sweep_args, tmp_path)
    deadline = time.monotonic() + 300
    while not list(sweep.glob("1_*")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    first, victim = job_folder(sweep, 0), job_folder(sweep, 1)
    # Kill while the second job trains its third epoch (epoch 2): mid-epoch, after a checkpoint.
    while not (
        (victim / "sampled_weights.csv").is_file()
        and any(row.startswith("step,2,") for row in weight_rows(victim))
    ):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert status(first)["status"] == "completed"
    assert not (victim / "run_status.json").exists()
    assert (victim / "checkpoints" / "last.ckpt").is_file()
    assert not list(sweep.glob("2_*"))
    first_run_files = run_outputs(first)

    output = finish(launch([*sweep_args, "resume=true"], tmp_path))
    assert "completed before; skipped (resume=true)" in output
    assert f"Resuming from {victim / 'checkpoints' / 'last.ckpt'}" in output
    assert run_outputs(first) == first_run_files  # nothing of the completed run was redone
    assert status(job_folder(sweep, 2))["status"] == "completed"

    resumed, uninterrupted = status(victim)["metrics"], status(reference)["metrics"]
    for key in ("train/loss", "train/acc", "test/acc", "test/loss", "best_ckpt/acc"):
        assert resumed[key] == uninterrupted[key], key
    # Every step's weights too: the partial epoch's records were replaced, not duplicated.
    assert weight_rows(victim) == weight_rows(reference)
