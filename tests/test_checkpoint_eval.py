"""Checkpoints as first-class inputs: evaluating one gives its run's numbers exactly, a bad one
is one paragraph, and fit continued from another run's checkpoint equals an uninterrupted run.

Runs go through `training.train` in-process, as `train.py` runs a job; the command-line form
(`train.py`, `make eval`) is walked once each, for its exit status and its one paragraph.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import PROJECT_ROOT, fail, finish, launch, read_metrics, tiny_data_overrides

from bn2d_study.config.compose import TrainConfigComposer, train_config_composer
from bn2d_study.errors import ConfigError
from bn2d_study.evaluate import EVALUATIONS_CSV
from bn2d_study.report import main as report_main
from bn2d_study.run_folder.files import METRICS_CSV, read_epoch_metrics, read_run_status
from bn2d_study.training import train

# A few epochs of these leave the tiny data's accuracy short of 1.
COMMON = ["data.batch_size=16", "model.optimizer.lr=0.01", "print_config=false"]


@pytest.fixture(scope="module")
def composer() -> Iterator[TrainConfigComposer]:
    with train_config_composer() as compose:
        yield compose


def run(compose: TrainConfigComposer, overrides: list[str], folder: Path) -> dict:
    """One run into `folder`, as train.py runs it; its run_status.json."""
    train(compose([*COMMON, *overrides], output_dir=folder))
    status = read_run_status(folder)
    assert status is not None
    return status


@pytest.fixture(scope="module")
def trained(
    composer: TrainConfigComposer, tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """A 2-epoch run on the tiny archive, and the data overrides it used."""
    root = tmp_path_factory.mktemp("trained")
    data = tiny_data_overrides(tiny_archive, root / "data")
    folder = root / "run"
    run(composer, [*data, "trainer.max_epochs=2"], folder)
    return folder, data


def test_evaluating_a_checkpoint_reports_the_numbers_its_run_logged(
    composer: TrainConfigComposer, trained: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, data = trained
    logged, final = read_epoch_metrics(folder / METRICS_CSV)
    best = next((folder / "checkpoints").glob("best-*.ckpt"))
    for checkpoint, expected in (
        (folder / "checkpoints" / "last.ckpt", logged[1]),  # Test of the last epoch, during fit
        (best, {"test/loss": final["best_ckpt/loss"], "test/acc": final["best_ckpt/acc"]}),
    ):
        out = tmp_path / checkpoint.name
        status = run(composer, [*data, "train=false", f"ckpt_path={checkpoint}"], out)
        assert status["status"] == "completed"
        # Exactly the numbers the run logged, to the last bit of the float.
        assert status["metrics"]["test/loss"] == expected["test/loss"]
        assert status["metrics"]["test/acc"] == expected["test/acc"]
        assert 0.0 < status["metrics"]["test/acc"] < 1.0
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert status["evaluated_checkpoint"] == {
            "path": str(checkpoint),
            "epoch": saved["epoch"],
            "global_step": saved["global_step"],
        }
        # The same metric names as a trained run's, in its CSV.
        rows = read_metrics(out)
        assert [float(r["test/acc"]) for r in rows if r.get("test/acc")] == [
            status["metrics"]["test/acc"]
        ]
        # The report reads the evaluation's folder like any run's.
        assert report_main([str(out)]) == 0
        assert f"{status['metrics']['test/acc']:.4f}" in (out / "summary.md").read_text()


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("missing", "no such file"),
        ("truncated", "cannot be read as a checkpoint"),
        ("not_lightning", "holds no model weights"),
        ("batchnorm", "trained with model.use_batchnorm=true"),
        ("classes", "net.11.weight is [10, 4096] in the checkpoint, [5, 4096] here"),
    ],
)
def test_a_bad_checkpoint_is_one_paragraph_naming_the_path_and_the_mismatch(
    composer: TrainConfigComposer,
    trained: tuple[Path, list[str]],
    tmp_path: Path,
    problem: str,
    expected: str,
) -> None:
    folder, data = trained
    checkpoint, extra = bad_checkpoint(folder, tmp_path, problem)
    out = tmp_path / "eval"
    with pytest.raises(ConfigError) as raised:
        run(composer, [*data, *extra, "train=false", f"ckpt_path={checkpoint}"], out)
    message = str(raised.value)
    assert expected in message and "ckpt_path=" in message and str(checkpoint) in message
    assert "\n" not in message  # one paragraph


def bad_checkpoint(folder: Path, tmp_path: Path, problem: str) -> tuple[Path, list[str]]:
    """A checkpoint with `problem`, and the overrides that make the model differ from it."""
    last = folder / "checkpoints" / "last.ckpt"
    checkpoint = tmp_path / "given.ckpt"
    if problem == "truncated":
        checkpoint.write_bytes(last.read_bytes()[:5000])
    elif problem == "not_lightning":
        torch.save({"weights": torch.zeros(3)}, checkpoint)
    elif problem == "missing":
        checkpoint = tmp_path / "nowhere.ckpt"
    elif problem == "batchnorm":
        return last, ["model.use_batchnorm=false"]
    elif problem == "classes":  # digits 0-4 only
        return last, ["data.classes='digit_[0-4]'", "data.num_classes=5"]
    return checkpoint, []


@pytest.mark.slow  # the same paragraphs in-process above; this walks train.py
def test_a_bad_checkpoint_on_the_command_line_exits_1_without_a_traceback(
    trained: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, data = trained
    checkpoint, _ = bad_checkpoint(folder, tmp_path, "truncated")
    process = launch(
        [
            *data,
            *COMMON,
            "train=false",
            f"ckpt_path={checkpoint}",
            f"hydra.run.dir={tmp_path / 'e'}",
        ],
        tmp_path,
    )
    output = fail(process)
    (error,) = [line for line in output.splitlines() if "[ERROR]" in line]
    assert f"ckpt_path={checkpoint} cannot be read as a checkpoint" in error
    assert read_run_status(tmp_path / "e")["status"] == "failed"


def test_fit_continued_from_another_runs_checkpoint_equals_an_uninterrupted_run(
    composer: TrainConfigComposer, trained: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, data = trained
    uninterrupted, continued = tmp_path / "uninterrupted", tmp_path / "continued"
    expected = run(composer, [*data, "trainer.max_epochs=3"], uninterrupted)
    last = folder / "checkpoints" / "last.ckpt"
    status = run(composer, [*data, "trainer.max_epochs=3", f"ckpt_path={last}"], continued)

    def science(metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if not k.startswith("time/")}

    expected_epochs, expected_final = read_epoch_metrics(uninterrupted / METRICS_CSV)
    epochs, final = read_epoch_metrics(continued / METRICS_CSV)
    assert sorted(epochs) == [0, 1, 2]  # the folder holds the whole run
    for epoch in range(3):
        assert science(epochs[epoch]) == science(expected_epochs[epoch]), epoch
    assert final == expected_final
    assert science(status["metrics"]) == science(expected["metrics"])
    assert status["resumed_from"]["path"] == str(last)
    assert status["resumed_from"]["epoch"] == 1
    # The weights' path (one record per epoch) continues as the uninterrupted run's did.
    assert (continued / "sampled_weights.csv").read_text() == (
        uninterrupted / "sampled_weights.csv"
    ).read_text()
    # The run it continued from is left as it was.
    assert read_run_status(folder)["status"] == "completed"
    assert sorted(read_epoch_metrics(folder / METRICS_CSV)[0]) == [0, 1]


@pytest.mark.slow
def test_make_eval_takes_a_sweep_folder_and_evaluates_every_runs_best_checkpoint(
    tiny_archive: Path, tmp_path: Path
) -> None:
    # Trained by train.py, which records the run's overrides (.hydra/overrides.yaml).
    folder = tmp_path / "trained"
    data = tiny_data_overrides(tiny_archive, tmp_path / "data")
    finish(launch([*data, *COMMON, "trainer.max_epochs=2", f"hydra.run.dir={folder}"], tmp_path))
    sweep = tmp_path / "sweep"
    for job in ("0_seed=1", "1_seed=2"):
        shutil.copytree(folder, sweep / job)
    # A run that never saved a checkpoint is passed over.
    shutil.copytree(folder, sweep / "2_seed=3")
    shutil.rmtree(sweep / "2_seed=3" / "checkpoints")
    out = tmp_path / "evals"
    result = subprocess.run(
        ["make", "-s", "eval", f"CKPT={sweep}", f"EVAL_ARGS=--out {out}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "DHCD_ARCHIVE"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = (out / EVALUATIONS_CSV).read_text().splitlines()
    assert len(rows) == 3  # the header and two runs
    _, final = read_epoch_metrics(folder / METRICS_CSV)
    for job in ("0_seed=1", "1_seed=2"):
        status = read_run_status(out / job)
        assert status is not None and status["metrics"]["test/acc"] == final["best_ckpt/acc"]
        assert status["evaluated_checkpoint"]["path"].startswith(str(sweep / job / "checkpoints"))
        assert "/best-" in status["evaluated_checkpoint"]["path"]
    # The table puts each evaluation beside what the run logged for that epoch: the same.
    for row in csv.DictReader((out / EVALUATIONS_CSV).open()):
        assert row["test/acc"] == row["logged test/acc"] and row["status"] == "completed"
        assert row["test/loss"] == row["logged test/loss"]
