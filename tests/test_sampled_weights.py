"""SampledWeightsLogger: recorded values equal the layer's weights; CSV, PNG and scalars written."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

import pytest
import torch
from helpers import make_callback, make_classifier, make_tiny_datamodule, read_metrics, tiny_trainer
from lightning import Callback, LightningModule, Trainer, seed_everything
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bn2d_study.callbacks import SampledWeightsLogger
from bn2d_study.errors import ConfigError


class WeightSnapshots(Callback):
    """Copies the last conv weight after each training epoch, independently of the logger."""

    def __init__(self) -> None:
        self.snapshots: list[torch.Tensor] = []

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.snapshots.append(pl_module.net[6].weight.detach().clone())


def fit(tmp_path: Path, archive: Path, recorder: SampledWeightsLogger, *extra: Callback) -> Trainer:
    dm = make_tiny_datamodule(archive, tmp_path / "data", batch_size=32)
    seed_everything(3)
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.05), use_batchnorm=True)
    trainer = tiny_trainer(tmp_path, max_epochs=3, callbacks=[recorder, *extra], tensorboard=True)
    trainer.fit(model, datamodule=dm)
    return trainer


def test_records_equal_the_layer_weights_and_files_are_written(
    tiny_archive: Path, tmp_path: Path
) -> None:
    recorder = make_callback("sampled_weights", output_dir=str(tmp_path))
    snapshots = WeightSnapshots()
    trainer = fit(tmp_path, tiny_archive, recorder, snapshots)
    assert recorder.layer_name == "net.6"  # the last Conv2d of the BN model
    with recorder.csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["kind"] for r in rows] == ["epoch"] * 3
    for row, weight in zip(rows, snapshots.snapshots, strict=True):
        assert float(row["w1"]) == weight[3, 4, 1, 0].item()
        assert float(row["w2"]) == weight[3, 8, 1, 0].item()
    # The weights moved, and each row carries that epoch's logged train loss.
    assert len({row["w1"] for row in rows}) == 3
    metrics = read_metrics(tmp_path)
    losses = [float(r["train/loss"]) for r in metrics if r["train/loss"]]
    assert [float(r["train_loss"]) for r in rows] == pytest.approx(losses)
    logged_w1 = [float(r["sampled_weights/w1"]) for r in metrics if r["sampled_weights/w1"]]
    assert logged_w1 == pytest.approx([float(r["w1"]) for r in rows])
    with Image.open(recorder.plot_path) as plot:
        assert plot.size[0] > 100 and plot.size[1] > 100
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert "sampled_weights/descent" in events.Tags()["images"]
    assert [e.value for e in events.Scalars("sampled_weights/w2")] == pytest.approx(
        [float(r["w2"]) for r in rows]
    )
    assert trainer.current_epoch == 3


def test_every_step_records_each_training_step(tiny_archive: Path, tmp_path: Path) -> None:
    recorder = make_callback("sampled_weights", output_dir=str(tmp_path), every_step=True)
    fit(tmp_path, tiny_archive, recorder)
    with recorder.csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    steps = [r for r in rows if r["kind"] == "step"]
    # 108 train images (10% held out) in batches of 32: 4 steps per epoch.
    assert [int(r["step"]) for r in steps] == list(range(1, 13))
    assert sum(r["kind"] == "epoch" for r in rows) == 3
    # The epoch's record comes after its last step, with the same weights.
    last_step_of_first_epoch = steps[3]
    first_epoch = next(r for r in rows if r["kind"] == "epoch")
    assert first_epoch["w1"] == last_step_of_first_epoch["w1"]


@pytest.mark.parametrize(
    ("indices", "layer", "match"),
    [
        ([[3, 4, 1, 0], [3, 16, 1, 0]], None, r"\[3, 16, 1, 0\] is out of range.*\[16, 16, 3, 3\]"),
        ([[3, 4, 1], [3, 8, 1, 0]], None, r"Give 4 indices"),
        ([[0, 0, 0, 0], [0, 0, 0, 1]], "net.99", r"layer='net.99' is not a module"),
    ],
)
def test_bad_indices_or_layer_fail_at_setup(
    tiny_archive: Path, tmp_path: Path, indices: list[list[int]], layer: str | None, match: str
) -> None:
    recorder = make_callback(
        "sampled_weights", output_dir=str(tmp_path), indices=indices, layer=layer
    )
    with pytest.raises(ConfigError, match=match):
        fit(tmp_path, tiny_archive, recorder)
    assert not recorder.csv_path.exists()


def test_a_named_layer_is_sampled(tiny_archive: Path, tmp_path: Path) -> None:
    recorder = make_callback(
        "sampled_weights",
        output_dir=str(tmp_path),
        indices=[[0, 0, 0, 0], [15, 0, 2, 2]],
        layer="net.0",
    )
    snapshots = WeightSnapshots()
    trainer = fit(tmp_path, tiny_archive, recorder, snapshots)
    with recorder.csv_path.open() as handle:
        last = list(csv.DictReader(handle))[-1]
    weight = trainer.lightning_module.net[0].weight
    assert float(last["w2"]) == weight[15, 0, 2, 2].item()
