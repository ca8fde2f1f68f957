"""`SampledWeightsLogger`: two single conv weights through training (the study's figure 3)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor, nn

from bn2d_study.errors import ConfigError
from bn2d_study.run_folder.files import (
    SAMPLED_WEIGHTS_COLUMNS,
    SAMPLED_WEIGHTS_CSV,
    keep_csv_rows,
    read_weight_path,
    rows_before_epoch,
)


class SampledWeightsLogger(Callback):
    """Record two weights of one layer with the train loss after every epoch (optionally step).

    Each record is logged as `sampled_weights/w1` and `sampled_weights/w2` to every logger and
    appended to `<output_dir>/sampled_weights.csv` (rows of kind `epoch` or `step`). At the end
    of fit the per-epoch path is drawn to `<output_dir>/sampled_weights.png` and logged to
    TensorBoard.

    Args:
        output_dir: the run folder.
        indices: two full indices into the layer's weight, e.g. `[[3, 4, 1, 0], [3, 8, 1, 0]]`.
        layer: the module's name in the LightningModule (e.g. `net.4`); None takes the last Conv2d.
        every_step: also record after every training step, for a finer path.
    """

    def __init__(
        self,
        output_dir: str,
        indices: Sequence[Sequence[int]],
        layer: str | None,
        every_step: bool,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.indices = [tuple(int(i) for i in index) for index in indices]
        self.layer = layer
        self.every_step = every_step
        self.weight: Tensor | None = None
        self.layer_name: str | None = None

    @property
    def csv_path(self) -> Path:
        """Where the records are appended."""
        return self.output_dir / SAMPLED_WEIGHTS_CSV

    @property
    def plot_path(self) -> Path:
        """Where the 3D descent plot is drawn at the end of fit."""
        return self.output_dir / "sampled_weights.png"

    def _find_layer(self, pl_module: LightningModule) -> tuple[str, nn.Module]:
        modules = dict(pl_module.named_modules())
        if self.layer is not None:
            if self.layer not in modules:
                convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
                raise ConfigError(
                    f"callbacks.sampled_weights.layer='{self.layer}' is not a module of the "
                    f"model. Use one of the Conv2d layers {convs}, or null for the last one."
                )
            return self.layer, modules[self.layer]
        convs = [(n, m) for n, m in modules.items() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ConfigError(
                "callbacks.sampled_weights.layer is null but the model has no Conv2d layer; "
                "name the layer to sample."
            )
        return convs[-1]

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Resolve the layer and check both indices against its weight's shape."""
        name, module = self._find_layer(pl_module)
        weight = getattr(module, "weight", None)
        if not isinstance(weight, Tensor):
            raise ConfigError(f"callbacks.sampled_weights.layer='{name}' has no weight tensor.")
        shape = tuple(weight.shape)
        for index in self.indices:
            if len(index) != len(shape) or any(
                not 0 <= i < s for i, s in zip(index, shape, strict=True)
            ):
                raise ConfigError(
                    f"callbacks.sampled_weights.indices: {list(index)} is out of range for "
                    f"{name}.weight of shape {list(shape)}. Give {len(shape)} indices, each "
                    f"from 0 to the size of its dimension minus one."
                )
        self.layer_name, self.weight = name, weight

    def _sample(self) -> tuple[float, float]:
        assert self.weight is not None
        w1, w2 = (float(self.weight[index].item()) for index in self.indices)
        return w1, w2

    @rank_zero_only
    def _append(self, kind: str, epoch: int, step: int, w1: float, w2: float, loss: float) -> None:
        new_file = not self.csv_path.exists()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with self.csv_path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(SAMPLED_WEIGHTS_COLUMNS)
            writer.writerow((kind, epoch, step, w1, w2, loss))

    @rank_zero_only
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Drop records of epochs this fit trains (again): those after a resumed checkpoint."""
        keep_csv_rows(self.csv_path, rows_before_epoch(trainer.current_epoch))

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """With `every_step`, record the weights after this step with the step's loss."""
        if not self.every_step:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        w1, w2 = self._sample()
        self._append("step", trainer.current_epoch, trainer.global_step, w1, w2, float(loss))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Record the weights after this epoch with the epoch's mean train loss."""
        if trainer.sanity_checking:
            return
        loss = float(trainer.callback_metrics["train/loss"])
        w1, w2 = self._sample()
        pl_module.log_dict({"sampled_weights/w1": w1, "sampled_weights/w2": w2}, sync_dist=True)
        self._append("epoch", trainer.current_epoch, trainer.global_step, w1, w2, loss)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw the per-epoch path to PNG and log the figure to TensorBoard."""
        # From the CSV, not from memory, so a resumed run still plots its whole path.
        path = read_weight_path(self.csv_path)
        if not path:
            return
        # Imported here: matplotlib takes a while to load, and only the end of fit needs it.
        from bn2d_study.plots.descent_path import descent_path_figure

        w1, w2, loss = zip(*path, strict=True)
        title = f"{self.layer_name}.weight {list(self.indices[0])} vs {list(self.indices[1])}"
        fig = descent_path_figure(w1, w2, loss, title)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.plot_path, dpi=100)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure("sampled_weights/descent", fig, trainer.global_step)
