"""Differential suite: every Lightning Trainer flag and callback means what Lightning's docs say.

Each case runs the project in-process, as `train.py` does (`training.train` on the composed
config, every default callback, logger and checkpoint included), with a flag given on the
command line; and a plain `LightningModule` and `Trainer` (tests/helpers/lightning_reference.py)
with the same network, data order and flag. Both carry `RunRecorder`, which the project gets
as a command-line callback. Then they must agree on what Lightning documents for the flag:
global steps, epochs, evaluations, the batches each stage saw (their labels, i.e. the data
order), the trained weights, and the metrics.

Where the project deliberately differs, the case says so: a limit that cuts an evaluation
short sees the number of batches that Lightning's rule gives, but class-balanced instead of the
first (class-sorted) ones, so only the counts and the balance are compared there.

The default suite runs each case once with the default config (Lightning's own hook dispatch,
torchmetrics' metrics); the slow suite runs every case with the opt-in patches too: the hook
dispatch speed-ups on and off, and the lean metrics against torchmetrics' own.
docs/lightning-flags.md is the table of verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import fail, launch, make_tiny_datamodule, tiny_data_overrides
from helpers.lightning_reference import (
    STUDY_METRICS,
    TEST_METRICS,
    PlainClassifier,
    RunRecorder,
    plain_loader,
)
from lightning import Callback, Trainer, seed_everything
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    RichModelSummary,
    RichProgressBar,
    StochasticWeightAveraging,
)
from lightning.pytorch.loggers import CSVLogger

from bn2d_study.config.compose import TrainConfigComposer
from bn2d_study.errors import ConfigError
from bn2d_study.lightning_ext import hook_dispatch
from bn2d_study.run_folder.files import METRICS_CSV, read_run_status
from bn2d_study.training import train

SEED, LR, BATCH, EPOCHS = 5842, 0.05, 8, 2
RECORDER = "helpers.lightning_reference.RunRecorder"


@dataclass
class Case:
    """One flag (or callback), as the project's overrides and as the plain Trainer's kwargs."""

    id: str
    overrides: list[str]
    flags: dict[str, Any] = field(default_factory=dict)
    # The plain Trainer's extra callbacks, given its run folder.
    callbacks: Callable[[Path], list[Callback]] = lambda run: []
    # False when a limit cuts an evaluation short: the project's batches are class-balanced.
    same_eval_data: bool = True
    # False for wall-clock limits: only what the flag promises is compared.
    exact: bool = True
    # Anything else the flag promises, checked on (project folder, project, reference).
    check: Callable[[Path, dict, dict], None] | None = None


def _lr_rows(run: Path) -> int:
    rows = (run / METRICS_CSV).read_text().splitlines()
    header = rows[0].split(",")
    column = header.index("lr-SGD")
    return sum(1 for row in rows[1:] if row.split(",")[column])


def _same_lr_logging(project_dir: Path, project: dict, reference: dict) -> None:
    assert _lr_rows(project_dir) == reference["lr_rows"] > 0


def _no_logger_files(project_dir: Path, project: dict, reference: dict) -> None:
    assert not (project_dir / METRICS_CSV).exists()
    assert not list(project_dir.glob("events.out.tfevents.*"))
    status = read_run_status(project_dir)
    assert status is not None and status["status"] == "completed"
    assert status["metrics"]["best_ckpt/acc"] == reference["test_metrics"]["best_ckpt/acc"]


def _no_checkpoints(project_dir: Path, project: dict, reference: dict) -> None:
    assert not list(project_dir.rglob("*.ckpt"))
    assert read_run_status(project_dir)["status"] == "completed"


def _one_checkpoint_per_epoch(project_dir: Path, project: dict, reference: dict) -> None:
    saved = sorted(p.name for p in (project_dir / "every_epoch").glob("*.ckpt"))
    assert saved == reference["every_epoch"] and len(saved) == EPOCHS


def _profiled(kind: str) -> Callable[[Path, dict, dict], None]:
    def check(project_dir: Path, project: dict, reference: dict) -> None:
        assert project["profiler"] == reference["profiler"] == kind

    return check


def _stopped_by_time(project_dir: Path, project: dict, reference: dict) -> None:
    # Lightning's Timer ends fit long before 1000 epochs, then the run tests and completes.
    assert 1 <= project["epochs_started"] < 1000 and 1 <= reference["epochs_started"] < 1000
    assert read_run_status(project_dir)["status"] == "completed"
    assert set(TEST_METRICS) <= set(project["test_metrics"])


def _flag_in_effect(name: str) -> Callable[[Path, dict, dict], None]:
    def check(project_dir: Path, project: dict, reference: dict) -> None:
        assert project[name] is True and reference[name] is True

    return check


def _flag(name: str, value: Any, kind: str = "", **options: Any) -> Case:
    """The case of one Trainer flag set to one value, the same on both sides."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    case_id = f"{name}_{kind}" if kind else name
    return Case(case_id, [f"trainer.{name}={text}"], {name: value}, **options)


def _es(monitor: str, mode: str) -> list[str]:
    base = "+callbacks.early_stopping"
    return [
        f"{base}._target_=lightning.pytorch.callbacks.EarlyStopping",
        f"{base}.monitor={monitor}",
        f"{base}.mode={mode}",
        f"{base}.patience=0",
    ]


CASES = [
    Case("defaults", []),
    Case("max_steps", ["trainer.max_steps=17"], {"max_steps": 17}),
    Case(
        "max_epochs_unlimited",
        ["trainer.max_epochs=-1", "trainer.max_steps=20"],
        {"max_epochs": -1, "max_steps": 20},
    ),
    Case(
        "max_time",
        ["trainer.max_time=00:00:00:03", "trainer.max_epochs=1000"],
        {"max_time": "00:00:00:03", "max_epochs": 1000},
        exact=False,
        check=_stopped_by_time,
    ),
    Case(
        "min_epochs",
        ["trainer.min_epochs=3", "trainer.max_epochs=4", *_es("train/loss", "max")],
        {"min_epochs": 3, "max_epochs": 4},
        callbacks=lambda run: [EarlyStopping("train/loss", mode="max", patience=0)],
    ),
    Case(
        "accumulate_grad_batches",
        ["trainer.accumulate_grad_batches=3"],
        {"accumulate_grad_batches": 3},
    ),
    *(
        _flag(f"limit_{stage}_batches", value, same_eval_data=stage == "train", kind=kind)
        for stage, values in (("train", (5, 0.5)), ("val", (1, 0.5)), ("test", (2, 0.5)))
        for kind, value in zip(("int", "fraction"), values, strict=True)
    ),
    Case("val_check_interval_int", ["trainer.val_check_interval=5"], {"val_check_interval": 5}),
    Case(
        "val_check_interval_fraction",
        ["trainer.val_check_interval=0.5"],
        {"val_check_interval": 0.5},
    ),
    Case(
        "check_val_every_n_epoch",
        ["trainer.check_val_every_n_epoch=2", "trainer.max_epochs=3"],
        {"check_val_every_n_epoch": 2, "max_epochs": 3},
    ),
    Case("num_sanity_val_steps", ["trainer.num_sanity_val_steps=1"], {"num_sanity_val_steps": 1}),
    Case(
        "fast_dev_run_bool",
        ["trainer.fast_dev_run=true"],
        {"fast_dev_run": True},
        same_eval_data=False,
    ),
    Case("fast_dev_run_int", ["trainer.fast_dev_run=3"], {"fast_dev_run": 3}, same_eval_data=False),
    Case(
        "overfit_batches",
        ["trainer.overfit_batches=2"],
        {"overfit_batches": 2},
        same_eval_data=False,
    ),
    Case("gradient_clip_val", ["trainer.gradient_clip_val=0.1"], {"gradient_clip_val": 0.1}),
    Case(
        "gradient_clip_algorithm_value",
        ["trainer.gradient_clip_val=0.01", "trainer.gradient_clip_algorithm=value"],
        {"gradient_clip_val": 0.01, "gradient_clip_algorithm": "value"},
    ),
    Case("precision_32_true", ["trainer.precision=32-true"], {"precision": "32-true"}),
    Case("precision_bf16_mixed", ["trainer.precision=bf16-mixed"], {"precision": "bf16-mixed"}),
    Case(
        "deterministic",
        ["trainer.deterministic=true"],
        {"deterministic": True},
        check=_flag_in_effect("deterministic"),
    ),
    Case(
        "detect_anomaly",
        ["trainer.detect_anomaly=true"],
        {"detect_anomaly": True},
        check=_flag_in_effect("anomaly"),
    ),
    Case(
        "profiler_simple",
        ["trainer.profiler=simple"],
        {"profiler": "simple"},
        check=_profiled("SimpleProfiler"),
    ),
    Case(
        "profiler_advanced",
        ["trainer.profiler=advanced"],
        {"profiler": "advanced"},
        check=_profiled("AdvancedProfiler"),
    ),
    Case(
        "log_every_n_steps",
        [
            "trainer.log_every_n_steps=3",
            "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor",
            "+callbacks.lr_monitor.logging_interval=step",
        ],
        {"log_every_n_steps": 3},
        callbacks=lambda run: [LearningRateMonitor(logging_interval="step")],
        check=_same_lr_logging,
    ),
    Case(
        "enable_checkpointing_false",
        ["trainer.enable_checkpointing=false"],
        {"enable_checkpointing": False},
        check=_no_checkpoints,
    ),
    Case("enable_progress_bar_false", ["trainer.enable_progress_bar=false"], {}),
    Case(
        "trainer_logger_false", ["trainer.logger=false"], {"logger": False}, check=_no_logger_files
    ),
    Case("trainer_logger_empty", ["trainer.logger=[]"], {"logger": []}, check=_no_logger_files),
    Case("logger_group_empty", ["logger=[]"], {"logger": False}, check=_no_logger_files),
    Case(
        "early_stopping",
        ["trainer.max_epochs=5", *_es("val/acc", "min")],
        {"max_epochs": 5},
        callbacks=lambda run: [EarlyStopping("val/acc", mode="min", patience=0)],
    ),
    Case(
        "learning_rate_monitor",
        [
            "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor",
        ],
        callbacks=lambda run: [LearningRateMonitor()],
        check=_same_lr_logging,
    ),
    Case(
        "stochastic_weight_averaging",
        [
            "trainer.max_epochs=3",
            "+callbacks.swa._target_=lightning.pytorch.callbacks.StochasticWeightAveraging",
            "+callbacks.swa.swa_lrs=0.01",
            "+callbacks.swa.swa_epoch_start=1",
        ],
        {"max_epochs": 3},
        callbacks=lambda run: [StochasticWeightAveraging(swa_lrs=0.01, swa_epoch_start=1)],
    ),
    Case(
        "rich_progress_bar",
        ["+callbacks.rich_bar._target_=lightning.pytorch.callbacks.RichProgressBar"],
        {"enable_progress_bar": True},
        callbacks=lambda run: [RichProgressBar()],
    ),
    Case(
        "rich_model_summary",
        ["+callbacks.rich_summary._target_=lightning.pytorch.callbacks.RichModelSummary"],
        callbacks=lambda run: [RichModelSummary()],
    ),
    Case(
        "extra_model_checkpoint",
        [
            "+callbacks.every_epoch._target_=lightning.pytorch.callbacks.ModelCheckpoint",
            "+callbacks.every_epoch.dirpath=${paths.output_dir}/every_epoch",
            "+callbacks.every_epoch.save_top_k=-1",
        ],
        callbacks=lambda run: [ModelCheckpoint(dirpath=run / "every_epoch", save_top_k=-1)],
        check=_one_checkpoint_per_epoch,
    ),
]

# The default suite's cases (make test), about 12 s here: the flags whose meaning the project
# touches. The slow suite runs the others, and every case with the other variants.
DEFAULT_CASES = {
    "defaults",
    "accumulate_grad_batches",
    "limit_val_batches_fraction",
    "limit_test_batches_int",
    "val_check_interval_fraction",
    "check_val_every_n_epoch",
    "fast_dev_run_int",
    "overfit_batches",
    "precision_bf16_mixed",
    "enable_checkpointing_false",
    "early_stopping",
    "stochastic_weight_averaging",
    "extra_model_checkpoint",
}

DEFAULT_VARIANT = "no-speedups-torchmetrics"

# Each pair of variants must agree: the hook dispatch speed-ups on and off, lean metrics and
# torchmetrics' own.
VARIANTS = {
    # The defaults: Lightning's own hook dispatch, torchmetrics' metrics.
    "no-speedups-torchmetrics": ["trainer_speedups=false", "model/metrics=torchmetrics"],
    # The opt-in patches of private internals: the hook dispatch alone (its pair: the
    # defaults), then with the lean metrics too, as speed=fast runs (the metrics' pair).
    "speedups-torchmetrics": ["trainer_speedups=true", "model/metrics=torchmetrics"],
    "speedups-lean": ["trainer_speedups=true", "model/metrics=lean"],
}


@pytest.fixture(scope="module")
def tiny_sets(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny archive's train split, held-out split and Test, as the data module makes them."""
    data_dir = tmp_path_factory.mktemp("flags-data")
    module = make_tiny_datamodule(tiny_archive, data_dir, batch_size=BATCH)
    module.prepare_data()
    module.setup()
    sets = {}
    for name, part in (
        ("train", module.train_set),
        ("val", module.val_set),
        ("test", module.test_set),
    ):
        assert part is not None
        sets[name] = part[list(range(len(part)))]
    return {"sets": sets, "data_dir": data_dir}


def run_reference(case: Case, sets: dict[str, Any], run: Path) -> dict[str, Any]:
    """The plain side: seed, build, fit on train with [val, Test] evaluated, then test."""
    hook_dispatch.uninstall()  # Lightning's own hook dispatch, whatever ran before
    seed_everything(SEED, workers=True)
    model = PlainClassifier(lr=LR)
    recorder = RunRecorder()
    flags = {"max_epochs": EPOCHS, **case.flags}
    checkpointing = flags.get("enable_checkpointing", True)
    callbacks: list[Callback] = [recorder, *case.callbacks(run)]
    if checkpointing:
        callbacks.append(
            ModelCheckpoint(
                dirpath=run / "checkpoints", monitor="val/acc", mode="max", save_last=True
            )
        )
    settings = {
        "accelerator": "cpu",
        "devices": 1,
        "num_sanity_val_steps": 0,
        "logger": CSVLogger(run, name="csv", version=""),
        "callbacks": callbacks,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": run,
        **flags,
    }
    trainer = Trainer(**settings)
    train_loader = plain_loader(*sets["train"], BATCH, shuffle=True)
    val_loaders = [plain_loader(*sets[s], BATCH, shuffle=False) for s in ("val", "test")]
    trainer.fit(model, train_dataloaders=train_loader, val_dataloaders=val_loaders)
    test_loader = plain_loader(*sets["test"], BATCH, shuffle=False)
    # Lightning refuses "best" with fast_dev_run, which saves no checkpoint.
    saved = checkpointing and not flags.get("fast_dev_run")
    best = "best" if saved and trainer.checkpoint_callback is not None else None
    trainer.test(model, dataloaders=test_loader, ckpt_path=best)
    record = recorder.record
    if (run / METRICS_CSV).is_file() and "lr-SGD" in (run / METRICS_CSV).read_text():
        record["lr_rows"] = _lr_rows(run)
    if (run / "every_epoch").is_dir():
        record["every_epoch"] = sorted(p.name for p in (run / "every_epoch").glob("*.ckpt"))
    return record


def run_project(
    compose: TrainConfigComposer, case: Case, variant: list[str], data: list[str], run: Path
) -> dict[str, Any]:
    """The project's side, in-process as `train.py` runs a job; the recorder's JSON."""
    overrides = [
        *data,
        f"data.batch_size={BATCH}",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.accelerator=cpu",
        f"model.optimizer.lr={LR}",
        f"seed={SEED}",
        "print_config=false",
        f"+callbacks.recorder._target_={RECORDER}",
        f"+callbacks.recorder.path={run / 'recorder.json'}",
        *variant,
        *case.overrides,
    ]
    cfg = compose(overrides, output_dir=run)
    train(cfg)
    return json.loads((run / "recorder.json").read_text())


def _balanced(batches: list[list[int]]) -> bool:
    """Whether the labels seen hold the classes as evenly as their number allows."""
    labels = [label for batch in batches for label in batch]
    counts = [labels.count(c) for c in set(labels)]
    return len(set(labels)) == min(10, len(labels)) and max(counts) - min(counts) <= 1


def _batch_counts(record: dict[str, Any]) -> dict[str, list[dict[str, int]]]:
    """Per evaluation stage, per run, per loader: the number of batches seen."""
    return {
        stage: [{k: len(v) for k, v in run.items()} for run in record[stage]]
        for stage in ("validation", "sanity", "test")
    }


def compare(case: Case, project: dict[str, Any], reference: dict[str, Any]) -> None:
    """What Lightning documents for the flag, and what follows from equal training."""
    if case.exact:
        for key in ("global_step", "current_epoch", "epochs_started", "validation_runs"):
            assert project[key] == reference[key], key
    if case.exact:
        assert _batch_counts(project) == _batch_counts(reference)
        assert project["train"] == reference["train"], "the training batches and their order"
        assert project["weights"] == reference["weights"], "the trained weights"
        for name in ("train/loss", "train/acc"):
            if name in reference["fit_metrics"]:
                assert project["fit_metrics"][name] == reference["fit_metrics"][name], name
    if case.same_eval_data and case.exact:
        for stage in ("validation", "sanity", "test"):
            assert project[stage] == reference[stage], stage
        for name in STUDY_METRICS:
            if name in reference["fit_metrics"]:
                assert project["fit_metrics"][name] == reference["fit_metrics"][name], name
        for name in TEST_METRICS:
            assert project["test_metrics"][name] == reference["test_metrics"][name], name
    elif not case.same_eval_data:
        # How many batches is Lightning's rule; which ones is the project's: class-balanced.
        for stage in ("validation", "test"):
            for run_batches, plain_batches in zip(project[stage], reference[stage], strict=True):
                for loader, batches in run_batches.items():
                    if batches != plain_batches[loader]:
                        assert _balanced(batches), (stage, loader, batches)


def _run_case(
    case: Case,
    variant: list[str],
    compose: TrainConfigComposer,
    tiny_archive: Path,
    tiny_sets: dict[str, Any],
    tmp_path: Path,
) -> None:
    data = tiny_data_overrides(tiny_archive, tiny_sets["data_dir"])
    reference = run_reference(case, tiny_sets["sets"], tmp_path / "reference")
    project = run_project(compose, case, variant, data, tmp_path / "project")
    compare(case, project, reference)
    if case.check is not None:
        case.check(tmp_path / "project", project, reference)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in DEFAULT_CASES], ids=lambda c: c.id)
def test_flag_means_what_lightning_says(
    case: Case,
    compose_train_config: TrainConfigComposer,
    tiny_archive: Path,
    tiny_sets: dict[str, Any],
    tmp_path: Path,
) -> None:
    _run_case(
        case, VARIANTS[DEFAULT_VARIANT], compose_train_config, tiny_archive, tiny_sets, tmp_path
    )


SLOW_RUNS = [
    pytest.param(case, variant, id=f"{case.id}-{variant}")
    for case in CASES
    for variant in VARIANTS
    if case.id not in DEFAULT_CASES or variant != DEFAULT_VARIANT
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "variant"), SLOW_RUNS)
def test_flag_means_the_same_with_every_variant(
    case: Case,
    variant: str,
    compose_train_config: TrainConfigComposer,
    tiny_archive: Path,
    tiny_sets: dict[str, Any],
    tmp_path: Path,
) -> None:
    _run_case(case, VARIANTS[variant], compose_train_config, tiny_archive, tiny_sets, tmp_path)


ERROR_CASES = [
    # (project overrides, plain Trainer flags, plain callbacks, the key the paragraph names)
    (
        ["trainer.limit_val_batches=0.1"],
        {"limit_val_batches": 0.1},
        [],
        "trainer.limit_val_batches=0.1",
    ),
    (
        ["trainer.val_check_interval=100"],
        {"val_check_interval": 100},
        [],
        "trainer.val_check_interval=100",
    ),
    (
        [*_es("val/nothing", "max")],
        {},
        [EarlyStopping("val/nothing", mode="max", patience=0)],
        "callbacks.early_stopping.monitor=val/nothing",
    ),
]


@pytest.mark.parametrize(("overrides", "flags", "callbacks", "key"), ERROR_CASES)
def test_lightnings_configuration_errors_are_one_paragraph_naming_the_key(
    overrides: list[str],
    flags: dict[str, Any],
    callbacks: list[Callback],
    key: str,
    compose_train_config: TrainConfigComposer,
    tiny_archive: Path,
    tiny_sets: dict[str, Any],
    tmp_path: Path,
) -> None:
    case = Case("error", overrides, flags, callbacks=lambda run: callbacks)
    with pytest.raises((MisconfigurationException, ValueError, RuntimeError)):
        run_reference(case, tiny_sets["sets"], tmp_path / "reference")
    data = tiny_data_overrides(tiny_archive, tiny_sets["data_dir"])
    with pytest.raises(ConfigError) as raised:
        run_project(compose_train_config, case, VARIANTS[DEFAULT_VARIANT], data, tmp_path / "p")
    message = str(raised.value)
    assert message.startswith(f"{key}: ") and "\n" not in message, message
    assert "from Lightning" in message
    status = read_run_status(tmp_path / "p")
    assert status is not None and status["status"] == "failed" and key in status["error"]


@pytest.mark.slow  # the same paragraph in-process above; this walks train.py
def test_a_lightning_configuration_error_on_the_command_line_has_no_traceback(
    tiny_archive: Path, tmp_path: Path
) -> None:
    process = launch(
        [
            *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            "trainer.limit_val_batches=0.1",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
    )
    output = fail(process)
    (error,) = [line for line in output.splitlines() if "[ERROR]" in line]
    assert (
        "trainer.limit_val_batches=0.1: You requested to check 0.1 of the `val_dataloader`" in error
    )
