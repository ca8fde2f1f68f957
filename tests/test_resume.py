"""Resumable multiruns: SIGKILL a real run mid-epoch, rerun the sweep, get the same results."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import finish, launch, make_dhcd_zip, tiny_data_overrides

from bn2d_study.run_folder.files import GONE, METRICS_CSV, read_epoch_metrics, run_state
from bn2d_study.training import train

TRAIN_PER_CLASS, TEST_PER_CLASS = 100, 10


def run_args(archive: Path, data_dir: Path) -> list[str]:
    """Four epochs of 250 small batches: long enough to be killed in the middle of one."""
    return [
        *tiny_data_overrides(archive, data_dir, TRAIN_PER_CLASS, TEST_PER_CLASS),
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


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The run arguments (seed excluded) and an uninterrupted run with seed 2."""
    root = tmp_path_factory.mktemp("resume")
    archive = make_dhcd_zip(root / "dhcd.zip", TRAIN_PER_CLASS, TEST_PER_CLASS)
    args = run_args(archive, root / "data")
    reference = root / "reference"
    finish(launch([*args, "seed=2", f"hydra.run.dir={reference}"], root))
    return args, reference


def wait_for_epoch_2(
    process: subprocess.Popen[str], run_dir_glob: Callable[[], list[Path]]
) -> Path:
    """Wait until a run trains its third epoch (epoch 2): mid-epoch, after two checkpoints."""
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None and time.monotonic() < deadline
        found = run_dir_glob()
        records = found[0] / "sampled_weights.csv" if found else None
        if (
            records
            and records.is_file()
            and any(r.startswith("step,2,") for r in weight_rows(found[0]))
        ):
            return found[0]
        time.sleep(0.02)


def assert_same_results(resumed: Path, reference: Path) -> None:
    ours, theirs = status(resumed)["metrics"], status(reference)["metrics"]
    for key in ("train/loss", "train/acc", "test/acc", "test/loss", "best_ckpt/acc"):
        assert ours[key] == theirs[key], key
    # Every step's weights too: the partial epoch's records were replaced, not duplicated.
    assert weight_rows(resumed) == weight_rows(reference)
    # And the per-epoch metrics in csv/metrics.csv, which the report reads (times aside).
    ours_epochs, ours_final = read_epoch_metrics(resumed / METRICS_CSV)
    theirs_epochs, theirs_final = read_epoch_metrics(reference / METRICS_CSV)
    assert ours_final == theirs_final
    assert sorted(ours_epochs) == sorted(theirs_epochs) == [0, 1, 2, 3]
    for epoch, metrics in theirs_epochs.items():
        for key, value in metrics.items():
            if not key.startswith("time/"):
                assert ours_epochs[epoch][key] == value, (epoch, key)


@pytest.mark.slow
def test_killed_multirun_resumes_to_the_results_of_an_uninterrupted_run(
    uninterrupted: tuple[list[str], Path], tmp_path: Path
) -> None:
    args, reference = uninterrupted
    sweep = tmp_path / "sweep"
    sweep_args = ["-m", *args, "seed=1,2,3", f"hydra.sweep.dir={sweep}"]
    process = launch(sweep_args, tmp_path)
    victim = wait_for_epoch_2(process, lambda: list(sweep.glob("1_*")))
    first = job_folder(sweep, 0)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert status(first)["status"] == "completed"
    assert not (victim / "run_status.json").exists()
    assert (victim / "checkpoints" / "last.ckpt").is_file()
    assert run_state(victim)[0] == GONE  # its lock names a process that no longer exists
    assert not list(sweep.glob("2_*"))
    first_run_files = run_outputs(first)

    output = finish(launch([*sweep_args, "resume=true"], tmp_path))
    assert "completed before; skipped (resume=true)" in output
    assert f"Took over {victim} from host" in output  # the killed process's stale lock
    assert f"Resuming from {victim / 'checkpoints' / 'last.ckpt'}" in output
    assert run_outputs(first) == first_run_files  # nothing of the completed run was redone
    assert status(job_folder(sweep, 2))["status"] == "completed"

    assert_same_results(victim, reference)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGUSR1])
def test_sigterm_stops_with_a_checkpoint_and_resume_continues_exactly(
    uninterrupted: tuple[list[str], Path], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    args, reference = uninterrupted
    run = tmp_path / "run"
    run_args_seed2 = [*args, "seed=2", f"hydra.run.dir={run}"]
    process = launch(run_args_seed2, tmp_path)
    wait_for_epoch_2(process, lambda: [run] if run.is_dir() else [])
    process.send_signal(stop_signal)  # what schedulers send before preemption or the time limit
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert status(run)["status"] == "interrupted", output[-3000:]
    assert (run / "checkpoints" / "interrupted.ckpt").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()

    output = finish(launch([*run_args_seed2, "resume=true"], tmp_path))
    assert "Resuming from" in output
    assert status(run)["status"] == "completed"
    assert_same_results(run, reference)


def test_resume_without_a_whole_epoch_restarts_instead_of_continuing_mid_epoch(
    compose_train_config: Callable, tiny_archive: Path, tmp_path: Path
) -> None:
    """A run stopped in its first epoch leaves only checkpoints/interrupted.ckpt. Lightning,
    given no checkpoint, would continue from that mid-epoch state (other batches than an
    uninterrupted run); resume=true restarts the run instead, and equals an uninterrupted one."""
    data = tiny_data_overrides(tiny_archive, tmp_path / "data")
    common = [*data, "trainer.max_epochs=1", "print_config=false"]
    uninterrupted, stopped = tmp_path / "uninterrupted", tmp_path / "stopped"
    train(compose_train_config(common, output_dir=uninterrupted))
    # What a SIGTERM in the middle of epoch 0 leaves: a mid-epoch checkpoint, no outcome.
    (stopped / "checkpoints").mkdir(parents=True)
    shutil.copy(
        uninterrupted / "checkpoints" / "last.ckpt", stopped / "checkpoints" / "interrupted.ckpt"
    )
    train(compose_train_config([*common, "resume=true"], output_dir=stopped))
    assert not (stopped / "checkpoints" / "interrupted.ckpt").exists()
    assert _science(stopped) == _science(uninterrupted)


def _science(run: Path) -> dict[str, float]:
    metrics = json.loads((run / "run_status.json").read_text())["metrics"]
    return {k: v for k, v in metrics.items() if not k.startswith("time/")}
