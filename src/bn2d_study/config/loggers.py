"""The options of the loggers (`logger` group): each logger's signature, typed before anything
is built, without torch. configs/logger/*.yaml state every argument's value; a logger that takes
**kwargs (TensorBoard's, W&B's) passes further keys on unchecked."""

from __future__ import annotations

from bn2d_study.signature_options import by_target, options_of

LOGGER_OPTIONS = by_target(
    options_of("lightning.pytorch.loggers.tensorboard.TensorBoardLogger"),
    options_of("lightning.pytorch.loggers.csv_logs.CSVLogger"),
    options_of("lightning.pytorch.loggers.wandb.WandbLogger"),
    options_of("bn2d_study.lightning_ext.csv_logger.ResumableCSVLogger"),
)
