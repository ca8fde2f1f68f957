"""Faults reproduced for real (processes, files, a full file system): nothing lost or mixed.

The fault table in docs/reliability.md points at these tests.
"""

from __future__ import annotations

import collections
import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import (
    PROJECT_ROOT,
    finish,
    launch,
    make_dhcd_zip,
    make_tiny_datamodule,
    sweep_on_tiny_data,
    tiny_data_overrides,
)
from helpers.lightning_reference import PlainClassifier, RunRecorder
from lightning import Trainer, seed_everything

from bn2d_study.config.compose import TrainConfigComposer as Compose
from bn2d_study.errors import ConfigError
from bn2d_study.run_folder.files import read_run_status
from bn2d_study.run_folder.lock import LOCK_FILE
from bn2d_study.training import build_run_objects

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs or switching users needs root (CI runs as root)"
)


def metrics_rows(run: Path) -> list[dict[str, str]]:
    with (run / "csv" / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def output_of(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 train and 10 test images per digit: epochs of some seconds at batch 4."""
    return make_dhcd_zip(tmp_path_factory.mktemp("small") / "dhcd-small.zip", 100, 10)


@pytest.mark.slow
def test_two_concurrent_resumed_sweeps_train_each_run_once(
    small_archive: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "seed=1,2,3",
        "trainer.max_epochs=3",
        "data.batch_size=8",
        "resume=true",
        "print_config=false",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
        *tiny_data_overrides(small_archive, tmp_path / "data", 100, 10),
    ]
    first, second = launch(args, tmp_path), launch(args, tmp_path)
    outputs = [finish(first), finish(second)]
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 3
    assert sum(output.count("Skipped ") for output in outputs) >= 1  # they did meet
    for run in runs:
        assert read_run_status(run)["status"] == "completed"  # type: ignore[index]
        assert (run / "train.log").read_text().count("Run in process") == 1, run
        assert not (run / LOCK_FILE).exists()
        # Each epoch once: one train row and one evaluation row per epoch.
        rows = metrics_rows(run)
        for key in ("train/loss", "test/acc", "sampled_weights/w1"):
            epochs = collections.Counter(r["epoch"] for r in rows if r.get(key))
            assert epochs == {"0": 1, "1": 1, "2": 1}, (run, key, epochs)
        with (run / "sampled_weights.csv").open() as handle:
            epochs = [r["epoch"] for r in csv.DictReader(handle) if r["kind"] == "epoch"]
        assert epochs == ["0", "1", "2"]
    # A third resume finds nothing to redo and touches nothing it wrote.
    written = {p: p.stat().st_mtime_ns for run in runs for p in (run / "csv").iterdir()}
    output = finish(launch(args, tmp_path))
    assert output.count("completed before; skipped (resume=true)") == 3
    assert {p: p.stat().st_mtime_ns for p in written} == written


@pytest.mark.slow  # a whole sweep of train.py runs; moved out of make test for its time
def test_a_diverging_run_stops_within_its_epoch_and_the_sweep_goes_on(
    small_archive: Path, tmp_path: Path
) -> None:
    sweep, output = sweep_on_tiny_data(
        [
            "model.use_batchnorm=false",
            "model.optimizer.lr=1e30,0.01",
            "trainer.max_epochs=2",
            "data.batch_size=4",  # 250 steps an epoch
            "callbacks.divergence.check_every_n_steps=10",
        ],
        small_archive,
        tmp_path,
        per_class=(100, 10),
    )
    (diverged,) = sweep.glob("0_*")
    (healthy,) = sweep.glob("1_*")
    status = read_run_status(diverged)
    assert status is not None and status["status"] == "diverged"
    assert status["epoch"] == 0 and 0 < status["step"] <= 20  # within the epoch, not at its end
    assert not (diverged / "csv" / "metrics.csv").exists()  # no NaN epoch was recorded
    assert not (diverged / "checkpoints" / "interrupted.ckpt").exists()
    assert read_run_status(healthy)["status"] == "completed"  # type: ignore[index]
    assert "1 of 2 runs of" in output and "diverged (the train loss is NaN" in output


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
def test_divergence_check_switched_off_trains_to_the_end(
    small_archive: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    finish(
        launch(
            [
                "model.use_batchnorm=false",
                "model.optimizer.lr=1e30",
                "trainer.max_epochs=1",
                "callbacks.divergence=null",
                f"hydra.run.dir={run}",
                *tiny_data_overrides(small_archive, tmp_path / "data", 100, 10),
            ],
            tmp_path,
        )
    )
    assert read_run_status(run)["status"] == "completed"  # type: ignore[index]
    assert [r["train/loss"] for r in metrics_rows(run) if r.get("train/loss")] == ["nan"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.optimizer.lr=-1", "model.optimizer.lr=-1: Invalid learning rate: -1"),
        ("model.optimizer.momentum=-0.5", "model.optimizer.momentum=-0.5: Invalid momentum"),
        ("trainer.accelerator=quantum", "trainer.accelerator=quantum: "),
        ("+trainer.gradient_clip_algorithm=sideways", "trainer.gradient_clip_algorithm=sideways"),
        # Named by its section when the library's message quotes no value of it.
        ("trainer.accelerator=tpu", "trainer (lightning.pytorch.Trainer): Requirement"),
        (
            "model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true}",
            "model.scheduler (torch.optim.lr_scheduler.StepLR): ",
        ),
        ("callbacks.model_checkpoint.mode=sideways", "callbacks.model_checkpoint.mode=sideways"),
        ("+logger.csv.bogus_option=1", "logger.csv.bogus_option=1: "),
    ],
)
def test_errors_building_the_run_name_the_config_key(
    compose_train_config: Compose, tmp_path: Path, override: str, expected: str
) -> None:
    cfg = compose_train_config([override, "trainer=cpu"], output_dir=tmp_path)
    seed_everything(0)
    with pytest.raises(ConfigError) as error:
        build_run_objects(cfg)
    assert str(error.value).startswith(expected), str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
def test_a_build_error_is_one_paragraph_and_recorded(tiny_archive: Path, tmp_path: Path) -> None:
    expected = "model.optimizer.lr=-1: Invalid learning rate: -1"
    args = ["model.optimizer.lr=-1", "debug=fast", f"hydra.run.dir={tmp_path / 'run'}"]
    code, output = output_of(
        launch([*args, *tiny_data_overrides(tiny_archive, tmp_path / "data")], tmp_path)
    )
    assert code == 1
    assert expected in output and "Traceback" not in output
    status = read_run_status(tmp_path / "run")
    assert status is not None and status["status"] == "failed" and expected in status["error"]


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
def test_hydra_full_error_still_shows_the_traceback(tiny_archive: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    env.pop("DHCD_ARCHIVE", None)
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "train.py"),
            "model.optimizer.lr=-1",
            "debug=fast",
            f"hydra.run.dir={tmp_path / 'run'}",
            *tiny_data_overrides(tiny_archive, tmp_path / "data"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "Invalid learning rate: -1" in result.stderr


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
def test_a_folder_holding_a_run_is_not_retrained_without_resume(
    tiny_archive: Path, tmp_path: Path
) -> None:
    args = ["debug=fast", f"hydra.run.dir={tmp_path / 'run'}"]
    args += tiny_data_overrides(tiny_archive, tmp_path / "data")
    finish(launch(args, tmp_path))
    before = (tmp_path / "run" / "run_status.json").read_text()
    code, output = output_of(launch(args, tmp_path))
    assert (
        code == 1 and "resume=false, but" in output and "already holds a run (completed)" in output
    )
    assert (tmp_path / "run" / "run_status.json").read_text() == before


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
def test_out_of_memory_is_one_paragraph(tiny_archive: Path, tmp_path: Path) -> None:
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1":
        pytest.skip("with overcommit_memory=1 the kernel grants any allocation")
    # 100,000 filters: the first conv layer alone asks for about 360 GB of weights.
    args = ["model.net.filters=100000", "debug=fast", f"hydra.run.dir={tmp_path / 'run'}"]
    code, output = output_of(
        launch([*args, *tiny_data_overrides(tiny_archive, tmp_path / "data")], tmp_path)
    )
    assert code == 1
    assert "Out of memory (RuntimeError: " in output and "lower data.batch_size" in output
    assert "Traceback" not in output
    assert "Out of memory" in read_run_status(tmp_path / "run")["error"]  # type: ignore[index]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 KB tmpfs: room for a run's first files, not for its checkpoints."""
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
@needs_root
def test_a_full_disk_is_one_paragraph_and_recorded(
    tiny_archive: Path, tmp_path: Path, full_disk: Path
) -> None:
    run = full_disk / "run"
    args = ["trainer.max_epochs=3", f"hydra.run.dir={run}"]
    code, output = output_of(
        launch([*args, *tiny_data_overrides(tiny_archive, tmp_path / "data")], tmp_path)
    )
    assert code == 1
    assert "No space left on the device holding" in output and "then rerun" in output
    assert "Traceback" not in output
    status = read_run_status(run)
    assert status is not None and status["status"] == "failed"
    assert "No space left" in status["error"]
    # No half-written file: no temp files left, and every checkpoint there loads.
    assert not [p for p in run.rglob("*.tmp")]
    for checkpoint in (run / "checkpoints").glob("*.ckpt"):
        assert "state_dict" in torch.load(checkpoint, weights_only=True)
    assert not (run / LOCK_FILE).exists()


@pytest.mark.slow  # a whole train.py run; moved out of make test for its time
@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_data_folder_without_permission_is_one_paragraph(
    tiny_archive: Path, tmp_path: Path
) -> None:
    # Root ignores permission bits; without these capabilities it obeys them like any user.
    as_a_user = ["setpriv", "--inh-caps=-dac_override,-dac_read_search"]
    as_a_user += ["--bounding-set=-dac_override,-dac_read_search"]
    locked = tmp_path / "not-yours"
    locked.mkdir(mode=0o555)
    data_dir = locked / "data"
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "DHCD_ARCHIVE"}
    result = subprocess.run(
        [
            *as_a_user,
            sys.executable,
            str(PROJECT_ROOT / "train.py"),
            "debug=fast",
            f"hydra.run.dir={run}",
            *tiny_data_overrides(tiny_archive, data_dir),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"Permission denied on {data_dir}" in output and "data.data_dir" in output
    assert "Traceback" not in output
    status = read_run_status(run)
    assert status is not None and "Permission denied" in status["error"]


@pytest.mark.parametrize(("limit", "val_batches", "test_batches"), [(2, 2, 2), (0.5, 12, 6)])
def test_short_evaluation_takes_lightnings_count_class_balanced(
    small_archive: Path, tmp_path: Path, limit: int | float, val_batches: int, test_batches: int
) -> None:
    """`limit_val/test_batches` as an int or a fraction: Lightning's number of batches (applied
    once, by Lightning), drawn class-balanced; without a limit, the study's order."""

    def seen(limit: int | float) -> list[list[int]]:
        dm = make_tiny_datamodule(
            small_archive,
            tmp_path / "data",
            train_per_class=100,
            test_per_class=10,
            batch_size=8,
            val_fraction=0.2,
        )
        recorder = RunRecorder()
        trainer = Trainer(
            accelerator="cpu",
            limit_val_batches=limit,
            limit_test_batches=limit,
            logger=False,
            callbacks=[recorder],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        model = PlainClassifier(lr=0.1)
        trainer.validate(model, datamodule=dm)
        trainer.test(model, datamodule=dm)
        (validation,), (test,) = recorder.record["validation"], recorder.record["test"]
        return [validation["0"], validation["1"], test["0"]]

    # 200 held-out images (25 batches of 8) and 100 Test images (13 batches).
    short = seen(limit)
    for batches, expected in zip(short, (val_batches, test_batches, test_batches), strict=True):
        assert len(batches) == expected  # Lightning's rule: int(0.5 * 25) = 12, int(0.5 * 13) = 6
        labels = [label for batch in batches for label in batch]
        counts = collections.Counter(labels)
        assert (
            sorted(counts) == list(range(10)) and max(counts.values()) - min(counts.values()) <= 1
        )
    assert seen(limit) == short  # seeded: the same batches in every run
    whole = [label for batch in seen(1.0)[2] for label in batch]
    assert whole == sorted(whole) and len(whole) == 100  # Test in the archive's order
