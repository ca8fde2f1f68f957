"""The CNN builder against the protocol's hand-written nn.Sequential, and the LightningModule."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

import pytest
import torch
from helpers import (
    make_callback,
    make_classifier,
    make_cnn,
    make_tiny_datamodule,
    read_metrics,
    tiny_trainer,
)
from lightning import seed_everything
from torch import nn


def protocol_sequential(use_batchnorm: bool) -> nn.Sequential:
    """The study's model, written out layer by layer as the protocol lists it."""
    if not use_batchnorm:
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4096, 10),
        )  # fmt: skip
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4096, 10),
    )  # fmt: skip


@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_builder_matches_protocol_layers_and_initial_weights(use_batchnorm: bool) -> None:
    torch.manual_seed(5842)
    expected = protocol_sequential(use_batchnorm)
    torch.manual_seed(5842)
    built = make_cnn(use_batchnorm=use_batchnorm, inplace_relu=False)
    assert [repr(m) for m in built] == [repr(m) for m in expected]
    expected_state, built_state = expected.state_dict(), built.state_dict()
    assert list(built_state) == list(expected_state)
    for name, tensor in expected_state.items():
        assert torch.equal(built_state[name], tensor), name
    # The module wraps the same network with the same draws.
    torch.manual_seed(5842)
    module = make_classifier(
        optimizer=partial(torch.optim.SGD, lr=0.001), use_batchnorm=use_batchnorm
    )
    for name, tensor in expected_state.items():
        assert torch.equal(module.net.state_dict()[name], tensor), name


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_inplace_relu_trains_to_the_same_weights_bit_for_bit(
    use_batchnorm: bool, channels_last: bool
) -> None:
    # The default ReLU overwrites its input: a speed switch that must not change one bit.
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(4, 16, 1, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (4, 16), generator=generator)
    trained = {}
    for inplace in (False, True):
        torch.manual_seed(5842)
        net = make_cnn(use_batchnorm=use_batchnorm, inplace_relu=inplace).to(memory_format=fmt)
        assert all(m.inplace == inplace for m in net if isinstance(m, nn.ReLU))
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        losses = []
        for x, y in zip(images, labels, strict=True):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(x.contiguous(memory_format=fmt)), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        trained[inplace] = (torch.stack(losses), net.state_dict())
    (losses_out, state_out), (losses_in, state_in) = trained[False], trained[True]
    assert torch.equal(losses_out, losses_in)
    for name, tensor in state_out.items():
        assert torch.equal(state_in[name], tensor), name
    torch.manual_seed(5842)
    initial = make_cnn(use_batchnorm=use_batchnorm).state_dict()["0.weight"]
    assert not torch.equal(state_in["0.weight"], initial)  # it trained


def test_builder_options_shape_the_network() -> None:
    net = make_cnn(use_batchnorm=True, conv_layers=2, filters=8, kernel_size=5, pool_size=4)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 and convs[0].kernel_size == (5, 5) and convs[1].out_channels == 8
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net) == 2
    assert net(torch.zeros(3, 1, 32, 32)).shape == (3, 10)
    assert isinstance(net[-1], nn.Linear) and net[-1].in_features == 8 * 8 * 8


def test_train_loss_is_the_plain_mean_of_batch_losses(tiny_archive: Path, tmp_path: Path) -> None:
    # 120 train images in batches of 50: the last batch has 20, and still counts as one.
    dm = make_tiny_datamodule(tiny_archive, tmp_path / "data", batch_size=50, val_fraction=0.0)
    seed_everything(1)
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.01), use_batchnorm=True)
    recorder = make_callback("sampled_weights", output_dir=str(tmp_path), every_step=True)
    trainer = tiny_trainer(tmp_path, callbacks=[recorder])
    trainer.fit(model, datamodule=dm)
    with recorder.csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    step_losses = {0: [], 1: []}
    epoch_losses = {}
    for row in rows:
        if row["kind"] == "step":
            step_losses[int(row["epoch"])].append(float(row["train_loss"]))
        else:
            epoch_losses[int(row["epoch"])] = float(row["train_loss"])
    assert [len(v) for v in step_losses.values()] == [3, 3]
    for epoch, losses in step_losses.items():
        assert epoch_losses[epoch] == pytest.approx(sum(losses) / len(losses), rel=1e-6)
    metrics = read_metrics(tmp_path)
    logged = [r for r in metrics if r["train/loss"]]
    assert [float(r["train/loss"]) for r in logged] == pytest.approx(
        [epoch_losses[0], epoch_losses[1]], rel=1e-6
    )
    # val_fraction=0: the Test pass reports both the val and the test metrics.
    evals = [r for r in metrics if r["val/acc"]]
    assert len(evals) == 2 and all(r["val/acc"] == r["test/acc"] for r in evals)


def test_optimizer_and_scheduler_come_from_config() -> None:
    model = make_classifier(
        optimizer=partial(torch.optim.Adam, lr=0.01),
        scheduler=partial(torch.optim.lr_scheduler.StepLR, step_size=5),
    )
    config = model.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.Adam)
    assert config["lr_scheduler"]["scheduler"].step_size == 5
    assert isinstance(
        make_classifier(optimizer=partial(torch.optim.SGD, lr=0.1)).configure_optimizers(),
        torch.optim.SGD,
    )
