"""The device-resident fast path: same batches and same training as the DataLoader path."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from helpers import make_classifier, make_tiny_datamodule, read_metrics, tiny_trainer
from lightning import seed_everything
from torch.utils.data import DataLoader

from bn2d_study.data import HindiDigitsDataModule
from bn2d_study.data.device_batches import DeviceBatches


def draw_epochs(dm: HindiDigitsDataModule, epochs: int) -> list[list[torch.Tensor]]:
    """What two epochs of training and evaluation see, as Lightning would iterate them."""
    seen = []
    for _ in range(epochs):
        for loader in (dm.train_dataloader(), *dm.val_dataloader()):
            seen.append([t.clone() for batch in loader for t in batch])
    return seen


@pytest.mark.parametrize("normalize", [False, True])
def test_fast_path_gives_the_same_batches_and_random_stream(
    tiny_archive: Path, tmp_path: Path, normalize: bool
) -> None:
    streams = {}
    for resident in (False, True):
        dm = make_tiny_datamodule(
            tiny_archive,
            tmp_path / "data",
            batch_size=7,  # leaves a short last batch
            normalize=normalize,
            device_resident=resident,
        )
        dm.setup()
        seed_everything(21)
        batches = draw_epochs(dm, epochs=2)
        streams[resident] = (batches, torch.get_rng_state())
        if resident:
            assert isinstance(dm.train_dataloader(), DeviceBatches)
    (normal, normal_rng), (fast, fast_rng) = streams[False], streams[True]
    assert len(normal) == len(fast) == 6
    for a, b in zip(normal, fast, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and torch.equal(x, y)
    assert not torch.equal(normal[0][0], normal[3][0])  # two epochs, two shuffles
    assert torch.equal(normal_rng, fast_rng)  # the global stream moved on identically


def test_auto_is_resident_in_one_process_unless_workers_are_asked_for(
    tiny_archive: Path, tmp_path: Path
) -> None:
    resident = make_tiny_datamodule(tiny_archive, tmp_path / "data")
    resident.setup()
    train_batches = resident.train_dataloader()
    assert isinstance(train_batches, DeviceBatches)
    assert train_batches.images.device == torch.device("cpu")  # no trainer: the CPU
    with_workers = make_tiny_datamodule(tiny_archive, tmp_path / "data", num_workers=1)
    with_workers.setup()
    assert isinstance(with_workers.train_dataloader(), DataLoader)


def fit(archive: Path, tmp_path: Path, resident: bool) -> tuple[dict, list[dict[str, str]]]:
    dm = make_tiny_datamodule(
        archive, tmp_path / "data", batch_size=16, val_fraction=0.25, device_resident=resident
    )
    seed_everything(5)
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.05), use_batchnorm=True)
    trainer = tiny_trainer(tmp_path / f"run-{resident}", max_epochs=3, deterministic=True)
    trainer.fit(model, datamodule=dm)
    return model.state_dict(), read_metrics(tmp_path / f"run-{resident}")


def test_training_on_the_fast_path_equals_the_normal_path(
    tiny_archive: Path, tmp_path: Path
) -> None:
    normal_state, normal_rows = fit(tiny_archive, tmp_path, resident=False)
    fast_state, fast_rows = fit(tiny_archive, tmp_path, resident=True)
    for name, tensor in normal_state.items():
        assert torch.equal(tensor, fast_state[name]), name
    drop = {"time/train_epoch_s", "time/train_total_s", "time/eval_epoch_s"}
    strip = [{k: v for k, v in row.items() if k not in drop} for row in normal_rows]
    assert strip == [{k: v for k, v in row.items() if k not in drop} for row in fast_rows]
    assert any(row["train/loss"] for row in normal_rows)


def test_channels_last_gives_the_same_logits() -> None:
    seed_everything(0)
    plain = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.1))
    seed_everything(0)
    nhwc = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.1), channels_last=True)
    images = torch.rand(8, 1, 32, 32)
    assert nhwc.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(plain(images), nhwc(images))


@pytest.mark.slow
def test_compiled_network_keeps_parameter_names_and_outputs() -> None:
    seed_everything(0)
    compiled = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.1), compile=True)
    plain = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.1))
    plain.load_state_dict(compiled.state_dict())  # same names: checkpoints interchangeable
    images = torch.rand(8, 1, 32, 32)
    torch.testing.assert_close(compiled(images), plain(images), rtol=1e-4, atol=1e-5)
