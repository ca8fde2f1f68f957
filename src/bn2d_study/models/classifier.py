"""`DigitClassifier`: trains a network with cross-entropy and logs the study's metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import Metric

from bn2d_study.errors import ConfigError
from bn2d_study.models.metrics import SplitMetrics

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
# Builds the network; called with `use_batchnorm` (e.g. `build_cnn`, or a partial of it).
NetworkFactory = Callable[..., nn.Module]

# Metric groups: `train` during fitting, `val` and `test` after every epoch, and `best_ckpt`
# for the final `trainer.test` with the best checkpoint.
METRIC_GROUPS = ("train", "val", "test", "best_ckpt")


class DigitClassifier(LightningModule):
    """A classifier with the study's `use_batchnorm` switch: the study's CNN by default.

    Logs per epoch `train/loss` (plain mean of batch losses), `train/acc`, `val/loss`,
    `val/acc`, `test/loss`, `test/acc`; after fit, Test with the best checkpoint as
    `best_ckpt/loss` and `best_ckpt/acc`.

    Args:
        optimizer: a partial optimizer (Hydra `_partial_: true`), called with the parameters.
        scheduler: an optional partial LR scheduler, called with the optimizer; stepped per epoch.
        use_batchnorm: passed to `net`: the switch the study is about.
        net: builds the network when called with `use_batchnorm` (config `model.net`, a
            partial; `build_cnn`, the study's CNN, with `model/net=cnn`).
        channels_last: keep the network's weights and inputs in NHWC layout.
        compile: compile the network with `torch.compile` (mode `compile_mode`; its
            "reduce-overhead" mode also captures CUDA graphs).
        metrics: each split's metrics, name -> torchmetrics `Metric` (config `model/metrics`:
            `torchmetrics` or `lean`), logged per epoch as `<split>/<name>`.
    """

    def __init__(
        self,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        use_batchnorm: bool,
        net: NetworkFactory,
        channels_last: bool,
        compile: bool,
        compile_mode: str | None,
        metrics: Mapping[str, Metric],
    ) -> None:
        super().__init__()
        # The factories stay out of the checkpoint: pickled callables would need an unsafe
        # (weights_only=False) load; the run folder's resolved config records them.
        self.save_hyperparameters(logger=False, ignore=["optimizer", "scheduler", "net", "metrics"])
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.net = net(use_batchnorm=use_batchnorm)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        if compile:
            # In place: the parameters keep their names, so checkpoints stay interchangeable.
            self.net.compile(mode=compile_mode)
        self.criterion = nn.CrossEntropyLoss()
        # Keyed `<group>_metrics`: a bare "train" would clash with nn.Module.train.
        self.split_metrics = nn.ModuleDict(
            {f"{g}_metrics": SplitMetrics(metrics) for g in METRIC_GROUPS}
        )
        self.val_loader_groups: list[tuple[str, ...]] = [("val",), ("test",)]
        # The group `trainer.test` logs: `best_ckpt` for the test after fit; `test` when a
        # checkpoint is evaluated on its own (train=false), the names its run logged Test under.
        self.test_group = "best_ckpt"

    def forward(self, images: Tensor) -> Tensor:
        """Class logits for a batch of images (B, 1, 32, 32)."""
        return self.net(images.contiguous(memory_format=self.memory_format))

    def setup(self, stage: str) -> None:
        """Ask the data module which metric groups each validation dataloader feeds: the one
        thing, besides (images, labels) batches, that a data module owes this classifier
        (docs/adapt.md, recipe 12). Dataloaders given to the Trainer directly are read as the
        held-out split, then Test."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None:
            return
        splits = getattr(datamodule, "val_loader_splits", None)
        if splits is None:
            raise ConfigError(
                f"data ({type(datamodule).__module__}.{type(datamodule).__name__}) does not say "
                f"which metric groups its validation dataloaders report: give it a "
                f"`val_loader_splits` attribute, e.g. [('val',), ('test',)] for a held-out split "
                f"then Test, or [('val', 'test')] for Test alone (docs/adapt.md, recipe 12)."
            )
        self.val_loader_groups = [tuple(groups) for groups in splits]

    def _step(self, batch: tuple[Tensor, Tensor], groups: Iterable[str]) -> Tensor:
        images, targets = batch
        logits = self(images)
        loss = self.criterion(logits, targets)
        for group in groups:
            metrics = self.split_metrics[f"{group}_metrics"]
            metrics.update(loss, logits, targets)
            if metrics.update_count == 1:
                # Logging a metric object once per epoch (at its first update since Lightning
                # last reset it) is enough: Lightning keeps it, and computes and resets it at
                # the epoch's end. Logging it every step would add Lightning's bookkeeping
                # (milliseconds per call on CPU) to every step.
                for name, metric in metrics.items():
                    self.log(
                        f"{group}/{name}",
                        metric,
                        on_step=False,
                        on_epoch=True,
                        add_dataloader_idx=False,
                    )
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """One SGD step's loss; accumulates `train/loss` and `train/acc`."""
        return self._step(batch, ("train",))

    def validation_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Evaluate one batch of the validation split or of Test (see `val_loader_splits`)."""
        self._step(batch, self.val_loader_groups[dataloader_idx])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Evaluate one Test batch with the checkpoint `trainer.test` loaded (`test_group`)."""
        self._step(batch, (self.test_group,))

    def configure_optimizers(self) -> Any:
        """The configured optimizer, plus the scheduler when one is configured."""
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
