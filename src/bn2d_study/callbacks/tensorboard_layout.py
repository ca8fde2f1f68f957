"""`TensorBoardLayout`: one custom-scalars page comparing accuracy, loss and weights of all runs."""

from __future__ import annotations

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger

# Chart title -> tags (regular expressions) drawn together in it.
DEFAULT_CHARTS: dict[str, list[str]] = {
    "accuracy: train, val, test": ["train/acc", "val/acc", "test/acc"],
    "loss: train, val, test": ["train/loss", "val/loss", "test/loss"],
    "sampled weights w1, w2": ["sampled_weights/w1", "sampled_weights/w2"],
}


class TensorBoardLayout(Callback):
    """Write a custom-scalars layout into every TensorBoard log after the first epoch of a fit.

    TensorBoard's CUSTOM SCALARS tab then shows, for all runs under `--logdir` at once, one
    chart per entry of `charts`, each with several metrics.

    Args:
        category: the name of the page section.
        charts: chart title -> metric tags (regular expressions) it draws.
    """

    def __init__(self, category: str, charts: dict[str, list[str]] | None) -> None:
        self.category = category
        self.charts = dict(charts) if charts is not None else dict(DEFAULT_CHARTS)
        self._written = False

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the layout once per fit, at its first epoch's end.

        Not at the start of fit: writing is what opens TensorBoard's writer, whose import
        takes a second that the first training step need not wait for.
        """
        if self._written:
            return
        self._written = True
        layout = {
            self.category: {title: ["Multiline", list(tags)] for title, tags in self.charts.items()}
        }
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
                logger.experiment.add_custom_scalars(layout)
