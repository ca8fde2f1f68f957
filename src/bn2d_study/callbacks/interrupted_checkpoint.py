"""`InterruptedCheckpoint`: a checkpoint when a run is stopped, not when it breaks."""

from __future__ import annotations

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException


class InterruptedCheckpoint(OnExceptionCheckpoint):
    """Save `<dirpath>/<filename>.ckpt` when SIGTERM (preemption, a time limit) or Ctrl-C stops
    the run.

    Lightning's `OnExceptionCheckpoint` saves on every exception: after a divergence that
    stores NaN weights, and after a full disk it tries to write once more. Resuming uses
    `last.ckpt` (the last whole epoch) in any case; this file keeps the mid-epoch state.
    """

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        """Save only for a stop that was asked for."""
        if isinstance(exception, SIGTERMException | KeyboardInterrupt):
            super().on_exception(trainer, pl_module, exception)
