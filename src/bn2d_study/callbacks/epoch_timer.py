"""`EpochTimer`: training seconds per epoch and in total, as the study records them."""

from __future__ import annotations

import time
from typing import Any

from lightning import Callback, LightningModule, Trainer


class EpochTimer(Callback):
    """Log `time/train_epoch_s` (this epoch's training pass), `time/train_total_s` (cumulative)
    and `time/eval_epoch_s` (this epoch's validation/Test pass).

    An epoch's time runs from its start to the end of its last training batch: validation,
    checkpointing and logging, which Lightning runs after that batch, are left out, so the
    numbers compare with the study's "cumulative train seconds".
    """

    def __init__(self) -> None:
        self.total_s = 0.0
        self._epoch_start: float | None = None
        self._last_batch_end: float | None = None
        self._eval_start: float | None = None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the clock."""
        self._epoch_start = time.perf_counter()
        self._last_batch_end = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Note when the latest training batch finished."""
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log this epoch's and the cumulative training seconds."""
        if self._epoch_start is None or self._last_batch_end is None:
            return
        epoch_s = self._last_batch_end - self._epoch_start
        self.total_s += epoch_s
        pl_module.log_dict(
            {"time/train_epoch_s": epoch_s, "time/train_total_s": self.total_s}, sync_dist=True
        )

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the evaluation clock."""
        self._eval_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the seconds of this epoch's evaluation (every validation dataloader)."""
        if self._eval_start is None or trainer.sanity_checking:
            return
        pl_module.log("time/eval_epoch_s", time.perf_counter() - self._eval_start, sync_dist=True)

    def state_dict(self) -> dict[str, float]:
        """Keep the cumulative time across a resume."""
        return {"total_s": self.total_s}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        """Restore the cumulative time."""
        self.total_s = state_dict["total_s"]
