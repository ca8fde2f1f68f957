"""The options of Lightning's Trainer (`trainer`): every argument, typed and checked before
anything is built, without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from bn2d_study.errors import require, unset

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.


@dataclass
class TrainerOptions:
    """`lightning.Trainer`'s arguments, typed and checked; each means what Lightning's docs say.

    configs/trainer/default.yaml states every value: Lightning's defaults, except where it sets
    the study's. docs/lightning-flags.md lists the flags tested against a plain Lightning Trainer.
    """

    _target_: str = MISSING
    default_root_dir: str = MISSING
    accelerator: str = MISSING
    devices: Any = MISSING
    strategy: Any = MISSING
    sync_batchnorm: bool = MISSING
    num_nodes: int = MISSING
    precision: Any = MISSING
    logger: Any = MISSING
    fast_dev_run: Any = MISSING
    min_epochs: Optional[int] = MISSING  # noqa: UP045
    max_epochs: Optional[int] = MISSING  # noqa: UP045
    min_steps: Optional[int] = MISSING  # noqa: UP045
    max_steps: int = MISSING
    max_time: Any = MISSING
    limit_train_batches: Any = MISSING
    limit_val_batches: Any = MISSING
    limit_test_batches: Any = MISSING
    limit_predict_batches: Any = MISSING
    overfit_batches: Any = MISSING
    val_check_interval: Any = MISSING
    check_val_every_n_epoch: Optional[int] = MISSING  # noqa: UP045
    num_sanity_val_steps: Optional[int] = MISSING  # noqa: UP045
    log_every_n_steps: Optional[int] = MISSING  # noqa: UP045
    enable_checkpointing: Optional[bool] = MISSING  # noqa: UP045
    enable_progress_bar: Optional[bool] = MISSING  # noqa: UP045
    enable_model_summary: Optional[bool] = MISSING  # noqa: UP045
    accumulate_grad_batches: int = MISSING
    gradient_clip_val: Optional[float] = MISSING  # noqa: UP045
    gradient_clip_algorithm: Optional[str] = MISSING  # noqa: UP045
    deterministic: Any = MISSING
    benchmark: Optional[bool] = MISSING  # noqa: UP045
    inference_mode: bool = MISSING
    use_distributed_sampler: bool = MISSING
    profiler: Any = MISSING
    detect_anomaly: bool = MISSING
    barebones: bool = MISSING
    plugins: Any = MISSING
    reload_dataloaders_every_n_epochs: int = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(
            self.max_epochs is None or self.max_epochs >= 1 or self.max_epochs == -1,
            "trainer.max_epochs",
            self.max_epochs,
            "it must be >= 1, or -1 (no limit: stop by trainer.max_steps or trainer.max_time)",
        )
        require(
            self.logger in (None, True, False) or self.logger == [],
            "trainer.logger",
            self.logger,
            "it must be null (the loggers of the `logger` group), or false or [] (no logger); "
            "choose loggers with the group instead, e.g. logger=csv or logger=[csv,tensorboard]",
        )
