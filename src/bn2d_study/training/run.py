"""One training run from a composed config: what `train.py` runs for each job of a sweep."""

from __future__ import annotations

import logging
import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from hydra.utils import instantiate
from lightning import LightningDataModule, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import (
    Checkpoint,
    ModelCheckpoint,
    OnExceptionCheckpoint,
    ProgressBar,
)
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from bn2d_study.callbacks.divergence import TrainingDivergedError
from bn2d_study.cluster.slurm_tasks import (
    SKIP,
    TRAIN,
    SlurmTasks,
    StoppedWithPeerError,
    is_lost_peer,
    layout_problem,
    lost_peer_message,
)
from bn2d_study.config.key_errors import config_key_errors
from bn2d_study.config.schema import validate_config
from bn2d_study.config.tree import print_config_tree
from bn2d_study.errors import ConfigError, RunFolderInUseError, as_resource_error
from bn2d_study.lightning_ext import hook_dispatch
from bn2d_study.lightning_ext.csv_logger import ResumableCSVLogger
from bn2d_study.run_folder.files import (
    COMPLETED,
    DIVERGED,
    FAILED,
    FINAL_STATUSES,
    INTERRUPTED,
    METRICS_CSV,
    RESOLVED_CONFIG_NAME,
    SAMPLED_WEIGHTS_CSV,
    execution,
    holds_a_run,
    read_run_status,
    write_run_status,
)
from bn2d_study.run_folder.lock import RunHeldError, RunLock
from bn2d_study.training.checkpoint_file import CheckpointInfo, check_fits, read_checkpoint
from bn2d_study.training.hparams import log_run_hparams
from bn2d_study.training.lightning_errors import lightning_config_errors
from bn2d_study.utils.atomic_write import atomic_write_text

log = logging.getLogger(__name__)

# Raised inside lightning 2.6.6 on every run with torch 2.14; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def train(cfg: DictConfig) -> dict[str, float]:
    """Hold the run folder, train unless the run is over already, record the outcome.

    Returns the final metrics; `{}` when another live process holds the run folder (this one
    leaves it alone, so a sweep goes on with its other runs). The last thing written to the
    run folder is `run_status.json`. When the run is several SLURM tasks (DDP through SLURM),
    rank 0 does all of that and tells the other ranks whether to train alongside
    (`utils/slurm_tasks.py`).
    """
    output_dir = Path(cfg.paths.output_dir)
    tasks = SlurmTasks.from_environment()
    if tasks is not None and not tasks.is_rank_zero:
        return _train_beside_rank_zero(cfg, output_dir, tasks)
    try:
        return _hold_the_folder_and_train(cfg, output_dir, tasks)
    finally:
        if tasks is not None and not tasks.announced(output_dir):
            # Whatever stopped rank 0 before training: the other ranks must not wait for it.
            tasks.announce(output_dir, SKIP)


def _hold_the_folder_and_train(
    cfg: DictConfig, output_dir: Path, tasks: SlurmTasks | None
) -> dict[str, float]:
    try:
        validate_config(cfg)
        config_error, lock = None, RunLock(output_dir, **cfg.run_lock)
    except ConfigError as error:
        # Still recorded in the folder, which a lock with the default settings guards.
        config_error, lock = error, RunLock(output_dir)
    try:
        lock.acquire()
    except RunHeldError as held:
        log.warning(
            "Skipped %s: held by %s; the sweep goes on with its other runs.",
            output_dir,
            held.holder.describe(),
        )
        return {}
    except OSError as error:
        _raise_as_resource_error(error)
    try:
        return _train_holding_the_folder(cfg, output_dir, config_error, tasks)
    finally:
        lock.release()


def _train_beside_rank_zero(
    cfg: DictConfig, output_dir: Path, tasks: SlurmTasks
) -> dict[str, float]:
    """A rank > 0 of a run made of several SLURM tasks: train alongside rank 0 if it trains.

    It writes nothing into the run folder (Lightning logs and checkpoints from rank 0 only),
    and its log goes to its task's own submitit log, not the run's train.log.
    """
    _leave_the_run_log(output_dir)
    decision = tasks.wait_for_decision(output_dir, float(cfg.run_lock.stale_after_s))
    if decision != TRAIN:
        log.info("Rank %d: rank 0 does not train %s; leaving.", tasks.rank, output_dir)
        return {}
    try:
        metrics, _ = _fit_and_test(cfg, output_dir, holds_the_folder=False)
    except TrainingDivergedError:
        # Rank 0 records it; every rank stops at the same check (the decision is all-reduced).
        return {"train/loss": float("nan")}
    return metrics


def _leave_the_run_log(output_dir: Path) -> None:
    """Detach Hydra's file handler of `<run>/train.log` from this process's loggers."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == (
            output_dir.absolute()
        ):
            root.removeHandler(handler)
            handler.close()


def _train_holding_the_folder(
    cfg: DictConfig, output_dir: Path, config_error: ConfigError | None, tasks: SlurmTasks | None
) -> dict[str, float]:
    status = read_run_status(output_dir)
    if status is not None and status.get("status") in FINAL_STATUSES and cfg.resume:
        log.info("%s %s before; skipped (resume=true).", output_dir, status["status"])
        return {k: v for k, v in status.get("metrics", {}).items() if v is not None}
    if not cfg.resume and holds_a_run(output_dir):
        recorded = status.get("status", "no outcome") if status else "no outcome recorded"
        raise RunFolderInUseError(
            f"resume=false, but {output_dir} already holds a run ({recorded}). Rerun with "
            f"resume=true to skip finished runs and continue the others, or give a new folder "
            f"(hydra.sweep.dir=... or hydra.run.dir=...)."
        )
    try:
        if config_error is not None:
            raise config_error
        if tasks is not None:
            _check_task_layout(cfg, tasks)
        metrics, detail = _fit_and_test(cfg, output_dir, tasks=tasks)
    except SIGTERMException:
        # Preemption or a time-out: Lightning stopped after the current batch and saved
        # checkpoints/interrupted.ckpt; resume=true continues from last.ckpt (the last whole
        # epoch), which keeps the results identical to an uninterrupted run.
        _record(output_dir, INTERRUPTED, error="SIGTERM: rerun with resume=true")
        raise
    except TrainingDivergedError as diverged:
        log.warning("Diverged: %s. Recorded as diverged; the sweep goes on.", diverged)
        metrics = {"train/loss": float("nan")}
        _record(
            output_dir,
            DIVERGED,
            metrics=metrics,
            error=str(diverged),
            detail={"epoch": diverged.epoch, "step": diverged.step},
        )
        return metrics
    except Exception as error:
        if tasks is not None and is_lost_peer(error):
            # Another rank of this run was cancelled, killed or ran out of time.
            _record(output_dir, INTERRUPTED, error=f"{lost_peer_message(tasks)} ({error})")
            raise StoppedWithPeerError(lost_peer_message(tasks)) from error
        resource = as_resource_error(error)
        shown = resource or error
        _record(output_dir, FAILED, error=f"{type(shown).__name__}: {shown}")
        if resource is not None:
            raise resource from error
        raise
    try:
        write_run_status(output_dir, COMPLETED, metrics=metrics, detail=detail)
    except OSError as error:
        _raise_as_resource_error(error)
    return metrics


def _check_task_layout(cfg: DictConfig, tasks: SlurmTasks) -> None:
    """Several SLURM tasks train one run only with the data-parallel strategy, one device each
    (the launcher refuses other layouts before submission; this covers other launchers)."""
    nodes = int(os.environ.get("SLURM_NNODES", "1") or 1)
    problem = layout_problem(cfg.trainer, tasks.world_size // nodes, nodes)
    if problem is not None:
        raise ConfigError(problem)


def _raise_as_resource_error(error: OSError) -> NoReturn:
    """Raise a full disk or a permission error as one paragraph; anything else as it is."""
    resource = as_resource_error(error)
    if resource is None:
        raise error
    raise resource from error


def _record(output_dir: Path, status: str, **fields: Any) -> None:
    """Write run_status.json if the file system still allows it; say so if it does not."""
    try:
        write_run_status(output_dir, status, **fields)
    except OSError as error:
        log.error(
            "Could not record the outcome '%s' in %s (%s); the report shows the run as 'no "
            "outcome recorded, process gone'.",
            status,
            output_dir,
            error,
        )


@dataclass
class RunObjects:
    """Everything a run trains and logs with, built from the config."""

    datamodule: LightningDataModule
    model: LightningModule
    trainer: Trainer


def _fit_and_test(
    cfg: DictConfig,
    output_dir: Path,
    holds_the_folder: bool = True,
    tasks: SlurmTasks | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit and test (or, with train=false, evaluate `ckpt_path`): the final metrics, and what
    `run_status.json` records besides them (the checkpoint evaluated or resumed from).

    `holds_the_folder` is false for ranks > 0 of a run of several SLURM tasks: they train and
    test alike, and leave the run folder's files to rank 0, which tells them (`tasks`) to
    start once the folder is ready.
    """
    if holds_the_folder:
        atomic_write_text(output_dir / RESOLVED_CONFIG_NAME, OmegaConf.to_yaml(cfg, resolve=True))
        if cfg.print_config:
            print_config_tree(cfg)
    _set_up_torch(cfg)
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
    run = build_run_objects(cfg)
    checkpoint = _checked_checkpoint(cfg, run.model)
    detail: dict[str, Any] = {}
    with _sigusr1_stops_the_run():
        try:
            with lightning_config_errors({"trainer": cfg.trainer, "callbacks": cfg.callbacks}):
                if cfg.train:
                    if checkpoint is not None:
                        detail["resumed_from"] = checkpoint.describe()
                        if holds_the_folder:
                            _continue_the_records_of(checkpoint, output_dir)
                    metrics = _fit(cfg, run, holds_the_folder, tasks)
                    if cfg.test:
                        metrics.update(_test_best_checkpoint(cfg, run))
                else:
                    assert checkpoint is not None  # the schema requires ckpt_path then
                    detail["evaluated_checkpoint"] = checkpoint.describe()
                    if tasks is not None:
                        tasks.announce(output_dir, TRAIN)
                    metrics = _evaluate_checkpoint(run, checkpoint)
            log_run_hparams(run.trainer, cfg, metrics)
        finally:
            _finish_wandb(run.trainer)
    return metrics, detail


def _checked_checkpoint(cfg: DictConfig, model: LightningModule) -> CheckpointInfo | None:
    """`ckpt_path`, read and checked against the model: one paragraph if it does not fit."""
    if not cfg.ckpt_path:
        return None
    info, state_dict = read_checkpoint(cfg.ckpt_path)
    check_fits(info, state_dict, model)
    return info


def _continue_the_records_of(checkpoint: CheckpointInfo, output_dir: Path) -> None:
    """Fit continues another run folder's checkpoint: start this folder's per-epoch records
    with that run's, so that this folder holds the whole run (the epochs the checkpoint holds
    are kept, the later ones dropped when fit starts, as for resume=true)."""
    source = checkpoint.run_dir
    if source is None or source.resolve() == output_dir.resolve():
        return
    for name in (METRICS_CSV, SAMPLED_WEIGHTS_CSV):
        earlier, here = source / name, output_dir / name
        if earlier.is_file() and not here.exists():
            here.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(here, earlier.read_text())
    log.info("Continuing %s from %s (epoch %d).", source, checkpoint.path, checkpoint.epoch)


def _evaluate_checkpoint(run: RunObjects, checkpoint: CheckpointInfo) -> dict[str, float]:
    """Test `ckpt_path`'s weights; logged as `test/loss` and `test/acc`, the names under which
    the run that saved it logged Test for that epoch."""
    log.info(
        "Evaluating %s (saved at epoch %d, step %d) on Test.",
        checkpoint.path,
        checkpoint.epoch,
        checkpoint.global_step,
    )
    run.model.test_group = "test"
    run.trainer.test(run.model, datamodule=run.datamodule, ckpt_path=str(checkpoint.path))
    return {k: float(v) for k, v in run.trainer.callback_metrics.items()}


def _set_up_torch(cfg: DictConfig) -> None:
    if cfg.trainer_speedups:
        hook_dispatch.install()
    else:
        hook_dispatch.uninstall()
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
        # Processes this run spawns (trainer=ddp's workers) start a new torch, which reads this.
        os.environ["OMP_NUM_THREADS"] = str(cfg.torch_threads)
    if cfg.cudnn_deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _instantiate_section(key: str, section: DictConfig | None) -> dict[str, Any]:
    """Instantiate every non-null entry of a callbacks/logger section, errors named by key."""
    objects = {}
    for name, item in (section or {}).items():
        if item is not None:
            with config_key_errors(f"{key}.{name}", item):
                objects[str(name)] = instantiate(item)
    return objects


def build_run_objects(cfg: DictConfig) -> RunObjects:
    """Build the data module, model (and a trial optimizer), callbacks, loggers and Trainer.

    An error from any of them becomes a `ConfigError` naming the config key and its value.
    """
    with config_key_errors("data", cfg.data):
        datamodule = instantiate(cfg.data)
    with config_key_errors("model", cfg.model):
        model = instantiate(cfg.model)
    # The module builds its optimizer only once fit starts: build it now to check its config.
    with config_key_errors("model.optimizer", cfg.model.optimizer):
        optimizer = model.optimizer_factory(params=model.parameters())
    if model.scheduler_factory is not None:
        with config_key_errors("model.scheduler", cfg.model.scheduler):
            model.scheduler_factory(optimizer=optimizer)
    callbacks = _fitting_callbacks(cfg, _instantiate_section("callbacks", cfg.callbacks))
    loggers = []
    if cfg.trainer.logger is False or cfg.trainer.logger == []:
        log.info(
            "trainer.logger=%s: no loggers (the logger group's are left out).", cfg.trainer.logger
        )
    else:
        loggers = list(_instantiate_section("logger", cfg.logger).values())
    with config_key_errors("trainer", cfg.trainer):
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return RunObjects(datamodule, model, trainer)


def _fitting_callbacks(cfg: DictConfig, named: dict[str, Any]) -> list[Any]:
    """The configured callbacks, less those that Lightning's flags or the user's own callbacks
    stand in for, so that the flags mean what Lightning's docs say instead of being refused."""
    bars = [name for name, c in named.items() if isinstance(c, ProgressBar)]
    if len(bars) > 1 and "progress_bar" in bars:
        # A bar added on the command line (e.g. RichProgressBar) replaces the configured one:
        # Lightning accepts only one.
        del named["progress_bar"]
    callbacks = list(named.values())
    if not cfg.trainer.enable_progress_bar:
        # Lightning refuses a bar callback with this flag off.
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if cfg.trainer.enable_checkpointing is False:
        # Lightning refuses checkpoint callbacks with this flag off: no checkpoint is written.
        callbacks = [c for c in callbacks if not isinstance(c, Checkpoint)]
    return callbacks


@contextmanager
def _sigusr1_stops_the_run() -> Iterator[None]:
    """Outside SLURM nothing handles SIGUSR1 (a scheduler's "time is nearly up"), and it would
    kill the run outright: treat it as SIGTERM, which stops the run cleanly."""
    previous = signal.getsignal(signal.SIGUSR1)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGUSR1, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def _fit(
    cfg: DictConfig,
    run: RunObjects,
    holds_the_folder: bool = True,
    tasks: SlurmTasks | None = None,
) -> dict[str, float]:
    """Fit (resuming from a checkpoint when asked); the metrics of the last epoch."""
    if cfg.train:
        ckpt_path = _resume_checkpoint(cfg, run.trainer)
        if holds_the_folder:
            _drop_rows_to_be_redone(run.trainer, ckpt_path)
            if ckpt_path is None:
                _remove_mid_epoch_checkpoints(run.trainer)
            if tasks is not None:
                tasks.announce(Path(cfg.paths.output_dir), TRAIN)
        run.trainer.fit(run.model, datamodule=run.datamodule, ckpt_path=ckpt_path)
    return {k: float(v) for k, v in run.trainer.callback_metrics.items()}


def _remove_mid_epoch_checkpoints(trainer: Trainer) -> None:
    """Fit starts from scratch: remove an earlier attempt's `interrupted.ckpt`.

    Given no checkpoint, Lightning resumes from the newest on-exception checkpoint it finds
    (`ckpt_path="last"`): a run stopped in its first epoch would continue mid-epoch, with
    other batches than an uninterrupted run. Resuming goes from the last whole epoch
    (`last.ckpt`); before the first, from scratch.
    """
    for callback in trainer.callbacks:
        if isinstance(callback, OnExceptionCheckpoint):
            path = Path(callback.ckpt_path)
            if path.is_file():
                log.info("Removed %s: the run restarts from scratch (no whole epoch saved).", path)
                path.unlink()


def _test_best_checkpoint(cfg: DictConfig, run: RunObjects) -> dict[str, float]:
    """Test with the best checkpoint (the current weights if none was saved): `best_ckpt/*`."""
    checkpoint = run.trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None else ""
    if cfg.train and not best:
        log.warning("No best checkpoint was saved; testing the current weights.")
    run.trainer.test(run.model, datamodule=run.datamodule, ckpt_path=best or None)
    return {k: float(v) for k, v in run.trainer.callback_metrics.items()}


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


def _drop_rows_to_be_redone(trainer: Trainer, ckpt_path: str | None) -> None:
    """Earlier attempts' metrics rows of the epochs this fit trains (again) are dropped."""
    # A checkpoint saved at an epoch's end resumes at the next epoch; without one, at epoch 0.
    epoch = 0
    if ckpt_path is not None:
        epoch = int(torch.load(ckpt_path, map_location="cpu", weights_only=True)["epoch"]) + 1
    for logger in trainer.loggers:
        if isinstance(logger, ResumableCSVLogger):
            logger.resume_at_epoch(epoch)


def _finish_wandb(trainer: Trainer) -> None:
    """Close this job's wandb run, or the next job of a multirun would log into it."""
    if any(isinstance(logger, WandbLogger) for logger in trainer.loggers):
        import wandb  # only when used: importing it costs a second

        wandb.finish()
