"""The differential suite's two sides: what a run did, recorded by one callback in both, and a
plain `LightningModule` + `Trainer` with the study's network, data order and metrics, which
knows nothing of this project (tests/test_lightning_flags.py, docs/lightning-flags.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

# Metrics the two sides compute alike, when they see the same data.
STUDY_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc")
TEST_METRICS = ("best_ckpt/loss", "best_ckpt/acc")


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


class RunRecorder(Callback):
    """Records what Lightning did: steps, epochs, every batch's labels per stage and loader,
    the metrics at the end of fit and of test, and a hash of the trained weights. With `path`,
    written there as JSON when the trainer tears down (the project's side, where the callback
    is added from the command line: `+callbacks.recorder._target_=...`)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.record: dict[str, Any] = {
            "train": [],
            "validation": [],
            "sanity": [],
            "test": [],
            "epochs_started": 0,
            "validation_runs": 0,
        }

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.record["epochs_started"] += 1

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.record["train"].append(batch[1].tolist())
        # Flags that act during the step, seen from inside it.
        self.record["anomaly"] = torch.is_anomaly_enabled()
        self.record["deterministic"] = torch.are_deterministic_algorithms_enabled()

    def _record_batch(self, stage: str, batch: Any, dataloader_idx: int) -> None:
        self.record[stage][-1].setdefault(str(dataloader_idx), []).append(batch[1].tolist())

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.record["sanity" if trainer.sanity_checking else "validation"].append({})

    def on_validation_batch_end(self, trainer: Trainer, *args: Any, **kwargs: Any) -> None:
        stage = "sanity" if trainer.sanity_checking else "validation"
        self._record_batch(stage, *_batch_and_loader(*args, **kwargs))

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self.record["validation_runs"] += 1

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.record["test"].append({})

    def on_test_batch_end(self, trainer: Trainer, *args: Any, **kwargs: Any) -> None:
        self._record_batch("test", *_batch_and_loader(*args, **kwargs))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        weights = torch.cat([p.detach().float().flatten() for p in pl_module.parameters()])
        self.record.update(
            global_step=trainer.global_step,
            current_epoch=trainer.current_epoch,
            fit_metrics=_floats(trainer.callback_metrics),
            weights=hashlib.sha256(weights.numpy().tobytes()).hexdigest(),
            profiler=type(trainer.profiler).__name__,
        )

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.record["test_metrics"] = _floats(trainer.callback_metrics)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self.record))


def _batch_and_loader(
    pl_module: LightningModule,
    outputs: Any,
    batch: Any,
    batch_idx: int,
    dataloader_idx: int = 0,
) -> tuple[Any, int]:
    """The batch and its loader's index, from an evaluation batch hook's arguments."""
    return batch, dataloader_idx


def study_cnn(use_batchnorm: bool = True, filters: int = 16, classes: int = 10) -> nn.Sequential:
    """The study's CNN, written out as the protocol does: [Conv2d (BatchNorm2d) ReLU] x 3,
    MaxPool2d(2), Flatten, Linear, for 32x32 grayscale images."""
    layers: list[nn.Module] = []
    channels = 1
    for _ in range(3):
        layers.append(nn.Conv2d(channels, filters, 3, padding=1))
        if use_batchnorm:
            layers.append(nn.BatchNorm2d(filters))
        layers.append(nn.ReLU())
        channels = filters
    layers += [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(filters * 16 * 16, classes)]
    return nn.Sequential(*layers)


class PlainClassifier(LightningModule):
    """The study's classifier as any Lightning user writes it: torchmetrics objects logged
    every step with `on_epoch=True`, SGD, the validation loaders' groups given by hand."""

    def __init__(
        self,
        lr: float,
        use_batchnorm: bool = True,
        channels_last: bool = True,
        val_groups: tuple[tuple[str, ...], ...] = (("val",), ("test",)),
    ) -> None:
        super().__init__()
        self.net = study_cnn(use_batchnorm)
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.layout)
        self.lr = lr
        self.val_groups = val_groups
        groups = ("train", "val", "test", "best_ckpt")
        # Keyed `<group>_`: a bare "train" would clash with nn.Module.train.
        self.losses = nn.ModuleDict({f"{g}_": MeanMetric(nan_strategy="disable") for g in groups})
        self.accuracies = nn.ModuleDict(
            {f"{g}_": MulticlassAccuracy(10, average="micro") for g in groups}
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images.contiguous(memory_format=self.layout))

    def _step(self, batch: tuple[Tensor, Tensor], groups: tuple[str, ...]) -> Tensor:
        images, targets = batch
        logits = self(images)
        loss = nn.functional.cross_entropy(logits, targets)
        for group in groups:
            loss_metric, accuracy = self.losses[f"{group}_"], self.accuracies[f"{group}_"]
            loss_metric(loss)
            accuracy(logits, targets)
            # One name per metric whatever the loader, as the project logs them.
            logged = {f"{group}/loss": loss_metric, f"{group}/acc": accuracy}
            self.log_dict(logged, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, groups=("train",))

    def validation_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._step(batch, groups=self.val_groups[dataloader_idx])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, groups=("best_ckpt",))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def plain_loader(images: Tensor, labels: Tensor, batch_size: int, shuffle: bool) -> DataLoader:
    """A per-sample `DataLoader` over tensors: what the Lightning docs' examples use."""
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=shuffle)
