"""A run's hyperparameters and outcome for TensorBoard's HPARAMS tab (and every other logger)."""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig
from lightning import Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from bn2d_study.run_folder.keys import describes_the_run, parse_override
from bn2d_study.study import OUTCOME_METRICS, STUDY_KEYS


def _scalar(value: Any) -> int | float | str:
    if isinstance(value, bool):
        # As text: torch's hparams writer would store a bool as the number 1 or 0.
        return str(value).lower()
    return value if isinstance(value, (int, float, str)) else str(value)


def swept_overrides() -> dict[str, str]:
    """`key -> value` of this run's command-line overrides (empty outside a Hydra run)."""
    if not HydraConfig.initialized():
        return {}
    pairs = {}
    for override in HydraConfig.get().overrides.task:
        key, value = parse_override(override)
        if describes_the_run(key):  # the keys that also name the run's folder
            pairs[key] = value
    return pairs


def run_hparams(cfg: DictConfig) -> dict[str, int | float | str]:
    """The study's keys plus every overridden key, with the run's (resolved) values."""
    overrides = swept_overrides()
    params = {}
    for key in (*STUDY_KEYS, *(k for k in overrides if k not in STUDY_KEYS)):
        # A config-group choice (`experiment=paper`) is not a key of the config: keep its name.
        value = OmegaConf.select(cfg, key, default=overrides.get(key))
        if isinstance(value, DictConfig):
            value = overrides.get(key, OmegaConf.to_yaml(value))
        params[key] = _scalar(value)
    return params


def outcome_metrics(trainer: Trainer, metrics: dict[str, float]) -> dict[str, float]:
    """The study's outcome metrics, the final Test value of every other configured metric
    (`hparams/final_test_<name>`, `hparams/best_ckpt_test_<name>`), and the best validation
    accuracy (the checkpoint's score)."""
    outcome = {key: metrics[name] for key, name in OUTCOME_METRICS.items() if name in metrics}
    reported = set(OUTCOME_METRICS.values())
    for name, value in metrics.items():
        group, _, metric = name.partition("/")
        if name not in reported and group in ("test", "best_ckpt") and metric:
            prefix = "final_test" if group == "test" else "best_ckpt_test"
            outcome[f"hparams/{prefix}_{metric}"] = value
    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_score", None)
    if best is not None:
        outcome["hparams/best_val_acc"] = float(best)
    return outcome


def log_run_hparams(trainer: Trainer, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """Give every logger the hyperparameters with the run's outcome, once the run is over."""
    params, outcome = run_hparams(cfg), outcome_metrics(trainer, metrics)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            # Hyperparameters and metrics in one record: what the HPARAMS tab compares.
            logger.log_hyperparams(params, outcome)
            logger.experiment.flush()
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(outcome, step=trainer.global_step)
        logger.save()
