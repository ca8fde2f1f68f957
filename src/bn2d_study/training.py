"""One training run from a composed config: what `train.py` runs for each job of a sweep."""

from __future__ import annotations

import logging
import os
import signal
import warnings
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from bn2d_study.config_schema import validate_config
from bn2d_study.run_folder import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    RESOLVED_CONFIG_NAME,
    execution,
    read_run_status,
    write_run_status,
)
from bn2d_study.utils.config_tree import print_config_tree
from bn2d_study.utils.run_hparams import log_run_hparams

log = logging.getLogger(__name__)

# Raised inside lightning 2.6.6 on every run with torch 2.14; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def _instantiate_all(section: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a callbacks/logger section that is not null."""
    if not section:
        return []
    return [instantiate(item) for item in section.values() if item is not None]


def train(cfg: DictConfig) -> dict[str, float]:
    """Validate the config, fit the model, test the best checkpoint; return the final metrics.

    The last thing written to the run folder is `run_status.json`: `completed` with the final
    metrics, or `failed` with the error (which is then raised again).
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    status = read_run_status(output_dir)
    if cfg.resume and status is not None and status.get("status") == COMPLETED:
        log.info("%s completed before; skipped (resume=true).", output_dir)
        return {k: v for k, v in status.get("metrics", {}).items() if v is not None}
    try:
        validate_config(cfg)
        metrics = _fit_and_test(cfg, output_dir)
    except SIGTERMException:
        # Preemption or a time-out: Lightning stopped after the current batch and saved
        # checkpoints/interrupted.ckpt; resume=true continues from last.ckpt (the last whole
        # epoch), which keeps the results identical to an uninterrupted run.
        write_run_status(output_dir, INTERRUPTED, error="SIGTERM: rerun with resume=true")
        raise
    except Exception as error:
        write_run_status(output_dir, FAILED, error=f"{type(error).__name__}: {error}")
        raise
    write_run_status(output_dir, COMPLETED, metrics=metrics)
    return metrics


def _fit_and_test(cfg: DictConfig, output_dir: Path) -> dict[str, float]:
    (output_dir / RESOLVED_CONFIG_NAME).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.print_config:
        print_config_tree(cfg)

    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    if cfg.cudnn_deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    log.info(
        "Run in process %d with %d torch threads, into %s; execution: %s",
        os.getpid(),
        torch.get_num_threads(),
        output_dir,
        execution(),
    )
    # Seed first, then build the model: its initial weights are the first random draws,
    # exactly as in the study's script.
    seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    callbacks = _instantiate_all(cfg.callbacks)
    if not cfg.trainer.enable_progress_bar:
        # Turns the configured bar off too: Lightning refuses a bar callback with this flag off.
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=_instantiate_all(cfg.logger) or False,
    )

    previous_sigusr1 = signal.getsignal(signal.SIGUSR1)
    if previous_sigusr1 == signal.SIG_DFL:
        # Outside SLURM nothing handles SIGUSR1 (a scheduler's "time is nearly up"), and it
        # would kill the run outright: treat it as SIGTERM, which stops the run cleanly.
        signal.signal(signal.SIGUSR1, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    try:
        if cfg.train:
            trainer.fit(model, datamodule=datamodule, ckpt_path=_resume_checkpoint(cfg, trainer))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if cfg.test:
            checkpoint = trainer.checkpoint_callback
            best = checkpoint.best_model_path if checkpoint is not None else ""
            if cfg.train and not best:
                log.warning("No best checkpoint was saved; testing the current weights.")
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        log_run_hparams(trainer, cfg, metrics)
    finally:
        signal.signal(signal.SIGUSR1, previous_sigusr1)
        _finish_wandb(trainer)
    return metrics


def _resume_checkpoint(cfg: DictConfig, trainer: Trainer) -> str | None:
    """`ckpt_path` if given; with `resume`, the run folder's last checkpoint if there is one."""
    if cfg.ckpt_path or not cfg.resume:
        return cfg.ckpt_path
    checkpoint = trainer.checkpoint_callback
    if not isinstance(checkpoint, ModelCheckpoint) or checkpoint.dirpath is None:
        return None
    last = (
        Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}{checkpoint.FILE_EXTENSION}"
    )
    if not last.is_file():
        return None
    log.info("Resuming from %s", last)
    return str(last)


def _finish_wandb(trainer: Trainer) -> None:
    """Close this job's wandb run, or the next job of a multirun would log into it."""
    if any(isinstance(logger, WandbLogger) for logger in trainer.loggers):
        import wandb  # only when used: importing it costs a second

        wandb.finish()
