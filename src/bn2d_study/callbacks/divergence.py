"""`DivergenceStop`: end a run soon after its train loss stops being finite."""

from __future__ import annotations

from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor


class TrainingDivergedError(Exception):
    """The train loss became NaN or infinite; the run is recorded as `diverged`."""

    def __init__(self, epoch: int, step: int, every_n_steps: int) -> None:
        super().__init__(
            f"the train loss is NaN or infinite by epoch {epoch}, step {step} (checked every "
            f"{every_n_steps} steps)"
        )
        self.epoch = epoch
        self.step = step


class DivergenceStop(Callback):
    """Stop training within the epoch once a batch's train loss is not finite.

    Each step adds its loss to a running sum on the training device (no synchronisation:
    the sum stays on the device); every `check_every_n_steps` steps, and after each epoch's
    last batch (before validation), the sum is read once. A single NaN or infinite loss makes
    the sum non-finite for good, so no such step is missed, and the run stops at most N steps
    later by raising `TrainingDivergedError`. Turn the check off with `callbacks.divergence=null`.
    """

    def __init__(self, check_every_n_steps: int) -> None:
        self.check_every_n_steps = check_every_n_steps
        self._loss_sum: Tensor | None = None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the epoch's sum on the training device."""
        self._loss_sum = torch.zeros((), device=pl_module.device)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Add this step's loss; read the sum every N steps."""
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if self._loss_sum is None or not isinstance(loss, Tensor):
            return
        self._loss_sum.add_(loss.detach().float())
        # The epoch's last batch too: validation runs right after it.
        if (batch_idx + 1) % self.check_every_n_steps == 0 or (
            batch_idx + 1 >= trainer.num_training_batches
        ):
            self._check(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Read the sum once more before the epoch's metrics are recorded."""
        self._check(trainer)

    def _check(self, trainer: Trainer) -> None:
        if self._loss_sum is None:
            return
        diverged = not bool(torch.isfinite(self._loss_sum))
        # In data-parallel training each process sums its own shard's losses: stop all of them
        # together if any diverged (one process stopping alone would leave the others waiting).
        diverged = trainer.strategy.reduce_boolean_decision(diverged, all=False)
        if diverged:
            raise TrainingDivergedError(
                trainer.current_epoch, trainer.global_step, self.check_every_n_steps
            )
