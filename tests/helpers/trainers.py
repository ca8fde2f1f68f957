"""The one tiny-Trainer factory the tests build their Lightning runs with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning import Callback, Trainer
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger


def tiny_trainer(
    run_dir: Path,
    max_epochs: int = 2,
    callbacks: Sequence[Callback] = (),
    tensorboard: bool = False,
    **options: Any,
) -> Trainer:
    """A CPU Trainer logging `run_dir/csv/metrics.csv` (and TensorBoard events if asked).

    No checkpoints, progress bar or sanity check unless `options` say otherwise; the other
    `options` go to the Trainer as they are (e.g. `deterministic=True`).
    """
    loggers: list[Logger] = [CSVLogger(run_dir, name="csv", version="")]
    if tensorboard:
        loggers.insert(0, TensorBoardLogger(run_dir, name="", version=""))
    settings: dict[str, Any] = {
        "max_epochs": max_epochs,
        "accelerator": "cpu",
        "logger": loggers,
        "callbacks": list(callbacks),
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    settings.update(options)
    return Trainer(**settings)
