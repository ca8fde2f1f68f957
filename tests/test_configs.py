"""Every config composes, validates and instantiates; the schema rejects bad input by key."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from lightning import Trainer
from lightning.pytorch.profilers import SimpleProfiler
from omegaconf import OmegaConf

from bn2d_study.config.compose import TrainConfigComposer as Compose
from bn2d_study.config.compose import find_config_dir
from bn2d_study.config.resolvers import run_name, unique_id
from bn2d_study.config.schema import CHECKED_BY_TARGET, validate_config
from bn2d_study.config.trainer import TRAINER_OPTIONS
from bn2d_study.data import HindiDigitsDataModule
from bn2d_study.errors import ConfigError
from bn2d_study.lightning_ext.profiler import NullProfiler
from bn2d_study.models import DigitClassifier
from bn2d_study.run_folder.options import RUN_LOCK_OPTIONS
from bn2d_study.signature_options import ComponentOptions


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (find_config_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "overrides",
    [[]]
    + [[f"logger={name}"] for name in group_options("logger")]
    + [[f"trainer={name}"] for name in group_options("trainer")]
    + [[f"experiment={name}"] for name in group_options("experiment")]
    + [[f"debug={name}"] for name in group_options("debug")]
    + [["experiment=paper", "debug=fast", "model.use_batchnorm=false"]],
    ids=lambda o: " ".join(o) or "defaults",
)
def test_every_config_composes_validates_and_instantiates(
    compose_train_config: Compose, tmp_path: Path, overrides: list[str]
) -> None:
    cfg = compose_train_config(
        [*overrides, f"data.data_dir={tmp_path}", "data.archive=null"], output_dir=tmp_path
    )
    validate_config(cfg)
    OmegaConf.to_yaml(cfg, resolve=True)  # every interpolation resolves
    assert isinstance(instantiate(cfg.data), HindiDigitsDataModule)
    assert isinstance(instantiate(cfg.model), DigitClassifier)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
    assert callbacks and loggers
    if cfg.trainer.accelerator != "gpu":  # no GPU here; its config still composes
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
        assert isinstance(trainer, Trainer)


def test_defaults_are_the_study_model_with_tensorboard_and_csv(
    compose_train_config: Compose,
) -> None:
    cfg = compose_train_config([])
    assert cfg.seed == 5842
    assert cfg.model.use_batchnorm is True
    assert cfg.data.batch_size == 32 and cfg.data.val_fraction == 0.1
    assert cfg.model.optimizer._target_ == "torch.optim.SGD" and cfg.model.optimizer.lr == 0.001
    assert set(cfg.logger) == {"tensorboard", "csv"}
    assert cfg.callbacks.sampled_weights.indices == [[3, 4, 1, 0], [3, 8, 1, 0]]
    assert cfg.callbacks.model_checkpoint.monitor == "val/acc"


def test_profiler_is_the_null_one_unless_a_lightning_profiler_is_named(
    compose_train_config: Compose, tmp_path: Path
) -> None:
    cfg = compose_train_config(["trainer=cpu"], output_dir=tmp_path)
    trainer = instantiate(cfg.trainer, callbacks=[], logger=False)
    assert isinstance(trainer.profiler, NullProfiler)
    with trainer.profiler.profile("step"):
        pass
    cfg = compose_train_config(["trainer=cpu", "trainer.profiler=simple"], output_dir=tmp_path)
    assert isinstance(instantiate(cfg.trainer, logger=False).profiler, SimpleProfiler)


def test_paper_experiment_is_the_protocol(compose_train_config: Compose) -> None:
    cfg = compose_train_config(["experiment=paper", "model.use_batchnorm=false"])
    assert cfg.seed == 5842 and cfg.model.use_batchnorm is False
    assert cfg.data.batch_size == 32 and cfg.data.val_fraction == 0 and not cfg.data.normalize
    assert cfg.model.optimizer.lr == 0.001 and cfg.model.optimizer.momentum == 0
    assert cfg.trainer.max_epochs == 30 and cfg.cudnn_deterministic is True
    assert cfg.trainer.num_sanity_val_steps == 0


def test_logger_all_adds_offline_wandb(compose_train_config: Compose, tmp_path: Path) -> None:
    cfg = compose_train_config(["logger=all", "model.use_batchnorm=false"], output_dir=tmp_path)
    assert set(cfg.logger) == {"tensorboard", "csv", "wandb"}
    assert cfg.logger.wandb.offline is True
    assert cfg.logger.wandb.save_dir == str(tmp_path)
    assert cfg.logger.wandb.name == "logger=all,use_batchnorm=false"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.use_batchnorm=maybe", "model.use_batchnorm"),
        ("data.bogus=1", "data.bogus"),
        ("trainer.max_epoch=3", "trainer.max_epoch"),
        ("data.batch_size=many", "data.batch_size"),
        # Typed by build_cnn's signature, `in_channels: int`.
        ("model.net.in_channels=three", "model.net.in_channels"),
        # A key of the old layout: the network's options moved under model.net.
        ("model.filters=8", "model.filters"),
    ],
)
def test_schema_rejects_wrong_types_and_unknown_keys(
    compose_train_config: Compose, override: str, key: str
) -> None:
    with pytest.raises(ConfigCompositionException) as error:
        compose_train_config([override])
    assert key in str(error.value) + str(error.value.__cause__)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.batch_size=0", "data.batch_size"),
        ("data.val_fraction=1.5", "data.val_fraction"),
        ("data.val_fraction=-0.1", "data.val_fraction"),
        ("data.archive=/no/such/dhcd.zip", "data.archive"),
        ("model.net.kernel_size=4", "model.net.kernel_size"),
        ("model.net.filters=0", "model.net.filters"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("callbacks.sampled_weights.indices=[[3,4,1,0]]", "callbacks.sampled_weights.indices"),
    ],
)
def test_schema_rejects_out_of_range_values_by_key(
    compose_train_config: Compose, tmp_path: Path, override: str, key: str
) -> None:
    cfg = compose_train_config([override], output_dir=tmp_path)
    with pytest.raises(ConfigError, match=rf"^{key}="):
        validate_config(cfg)


def test_run_names_come_from_overrides() -> None:
    assert run_name(["model.use_batchnorm=False", "data.batch_size=16", "seed=1"]) == (
        "use_batchnorm=false,batch_size=16,seed=1"
    )
    assert run_name(["experiment=paper", "data.archive=/x/y.zip", "paths.log_dir=/tmp"]) == (
        "experiment=paper"
    )
    assert run_name(
        ["+trainer.gradient_clip_algorithm=value", "model.optimizer._target_=torch.optim.Adam"]
    ) == ("gradient_clip_algorithm=value,_target_=torch.optim.Adam")
    # How a run is executed is not what it computes.
    assert run_name(["trainer.profiler=simple", "torch_threads=1", "seed=2"]) == "seed=2"
    # Bit-identical results: the same setting, the same name.
    assert run_name(["model.net.inplace_relu=false", "seed=2"]) == "seed=2"
    assert run_name([]) == "defaults"
    many = [f"model.optimizer.option_number_{i}={i}" for i in range(20)]
    shortened = run_name(many)
    assert len(shortened) == 120 and shortened != run_name(many[:-1])
    assert "/" not in run_name(["model.scheduler=a/b"])


def test_unique_ids_differ() -> None:
    assert len({unique_id() for _ in range(50)}) == 50


def test_configs_are_found_whatever_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = find_config_dir().parent
    monkeypatch.delenv("PROJECT_ROOT", raising=False)
    monkeypatch.delenv("BN2D_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # not inside the checkout
    assert find_config_dir() == checkout / "configs"  # found beside the package's source
    copy = tmp_path / "elsewhere" / "configs"
    shutil.copytree(checkout / "configs", copy)
    monkeypatch.setenv("BN2D_CONFIG_DIR", str(copy))
    assert find_config_dir() == copy  # named explicitly, it wins
    monkeypatch.setenv("BN2D_CONFIG_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PROJECT_ROOT", str(copy.parent))
    assert find_config_dir() == copy  # train.py's PROJECT_ROOT


def test_validation_loads_neither_torch_nor_lightning(tmp_path: Path) -> None:
    """Each wing's options are read without importing torch or Lightning: a bad value stops a
    run before those load (seconds)."""
    script = (
        "import sys\n"
        "from bn2d_study.config.compose import train_config_composer\n"
        "from bn2d_study.config.schema import validate_config\n"
        "with train_config_composer() as compose:\n"
        f"    cfg = compose(['callbacks=landscape'], output_dir={str(tmp_path)!r})\n"
        "    validate_config(cfg)\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("[]")


def _signature_options() -> list[tuple[str, ComponentOptions]]:
    checked = {id(o): (o.targets[0], o) for o in CHECKED_BY_TARGET.values()}
    others = [(o.targets[0], o) for o in (TRAINER_OPTIONS, RUN_LOCK_OPTIONS)]
    return sorted([*checked.values(), *others], key=lambda item: item[0])


SIGNATURE_OPTIONS = _signature_options()


@pytest.mark.parametrize(
    ("target", "options"), SIGNATURE_OPTIONS, ids=[t for t, _ in SIGNATURE_OPTIONS]
)
def test_schemas_read_from_source_match_the_imported_signatures(
    target: str, options: ComponentOptions
) -> None:
    """The schema read by `ast` (no import) names exactly the parameters Python sees: a
    Lightning upgrade that moves or re-exports a class differently fails here, by name."""
    module, _, name = target.rpartition(".")
    component = getattr(importlib.import_module(module), name)
    parameters = inspect.signature(component).parameters.values()
    named = {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    fields = {f.name for f in dataclasses.fields(options.schema)} - {"_target_", "_partial_"}
    assert fields == named - set(options.given_by_caller)
    assert options.takes_more == any(p.kind == p.VAR_KEYWORD for p in parameters)
    assert options.with_default == {p.name for p in parameters if p.default is not p.empty}
    for target_name in options.targets:  # every `_target_` it answers to names it
        module, _, name = target_name.rpartition(".")
        assert getattr(importlib.import_module(module), name) is component


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["logger=all", "logger.csv.flush_logs_every_n_steps=x"], r"^logger\.csv\.flush_logs"),
        (["logger=all", "+logger.csv.bogus=1"], r"^logger\.csv\.bogus: Key 'bogus' not in"),
        # A callback of this project added on the command line: typed and checked where it sits.
        (
            ["+callbacks.again._target_=bn2d_study.callbacks.DivergenceStop"],
            r"^callbacks\.again\.check_every_n_steps: it has no value",
        ),
        (
            [
                "+callbacks.again._target_=bn2d_study.callbacks.DivergenceStop",
                "+callbacks.again.check_every_n_steps=0",
            ],
            r"^callbacks\.again\.check_every_n_steps=0 is invalid: it must be >= 1",
        ),
    ],
)
def test_values_are_typed_by_signatures_and_named_where_they_sit(
    compose_train_config: Compose, tmp_path: Path, overrides: list[str], message: str
) -> None:
    cfg = compose_train_config(overrides, output_dir=tmp_path)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_keys_beyond_a_signature_pass_to_its_kwargs(
    compose_train_config: Compose, tmp_path: Path
) -> None:
    """TensorBoardLogger takes **kwargs (for its SummaryWriter): a further key is its own."""
    cfg = compose_train_config(
        ["logger=tensorboard", "+logger.tensorboard.flush_secs=5"], output_dir=tmp_path
    )
    validate_config(cfg)
    assert instantiate(cfg.logger.tensorboard).experiment.flush_secs == 5  # type: ignore[attr-defined]


def test_a_lightning_logger_added_on_the_command_line_may_leave_out_its_defaults(
    compose_train_config: Compose, tmp_path: Path
) -> None:
    target = "+logger.more._target_=lightning.pytorch.loggers.CSVLogger"
    cfg = compose_train_config([target, f"+logger.more.save_dir={tmp_path}"], output_dir=tmp_path)
    validate_config(cfg)
    bad = compose_train_config([target, "+logger.more.name=1"], output_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^logger\.more\.save_dir: it has no value"):
        validate_config(bad)


@pytest.mark.parametrize(
    "path",
    [f"{group}/{name}" for group in ("logger", "callbacks") for name in group_options(group)],
)
def test_group_yamls_state_every_argument_of_their_components(path: str) -> None:
    """A logger's or callback's YAML entry shows each of its arguments (its type-checked keys);
    one added on the command line may leave out those with a default."""
    loaded = OmegaConf.load(find_config_dir() / f"{path}.yaml")
    for key, node in loaded.items():
        if key == "defaults":
            continue
        options = CHECKED_BY_TARGET[node["_target_"]]
        stated = set(node.keys()) & set(options.schema.__dataclass_fields__)
        assert stated == set(options.schema.__dataclass_fields__), (path, key)
