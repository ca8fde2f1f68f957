"""The typed schema of `configs/train.yaml`: it assembles the wings' options and checks every
value before anything is built.

Each wing owns its options (`data/options.py`, `models/options.py`, `callbacks/options.py`,
`run_folder/options.py`; the Trainer's and the loggers' in `config/trainer.py` and
`config/loggers.py`; the launchers' beside the launchers, in
`hydra_plugins/bn2d_study_launchers/config.py`): schemas read from the components' signatures
(`signature_options.py`) and the checks that types cannot say. The YAML files state every
value, once, and name their schema in their defaults list; Hydra then types them at composition
(a wrong type or an unknown key fails there), and `validate_config` types each component's node
again by its `_target_` and runs the checks. This module loads in a fraction of a second,
without torch or Lightning: a config error shows before either is imported. `python train.py
--cfg job` prints the composed config.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bn2d_study.callbacks import options as callback_options
from bn2d_study.config.loggers import LOGGER_OPTIONS
from bn2d_study.config.trainer import TRAINER_OPTIONS
from bn2d_study.data import options as data_options
from bn2d_study.errors import fix_the_key
from bn2d_study.models import options as model_options
from bn2d_study.run_folder.options import RUN_LOCK_OPTIONS
from bn2d_study.signature_options import ComponentOptions, check, full_key
from hydra_plugins.bn2d_study_launchers.config import register_launcher_configs

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.

# Every wing's schemas, stored where their YAML files name them, and the options checked by
# the `_target_` they configure (a component of yours is checked by its signature when built).
WING_SCHEMAS = {**data_options.SCHEMAS, **model_options.SCHEMAS, **callback_options.SCHEMAS}
CHECKED_BY_TARGET: dict[str, ComponentOptions] = {
    **data_options.CHECKED,
    **model_options.CHECKED,
    **callback_options.CHECKED,
    **LOGGER_OPTIONS,
}
TrainerSchema = TRAINER_OPTIONS.schema
RunLockSchema = RUN_LOCK_OPTIONS.schema


@dataclass
class PathsOptions:
    """Where data and logs go (configs/paths/default.yaml)."""

    root_dir: str = MISSING
    data_dir: str = MISSING
    log_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class TrainConfig:
    """The root config (`configs/train.yaml`, which states every root value)."""

    seed: int = MISSING
    train: bool = MISSING
    test: bool = MISSING
    ckpt_path: Optional[str] = MISSING  # noqa: UP045
    resume: bool = MISSING
    cudnn_deterministic: bool = MISSING
    trainer_speedups: bool = MISSING
    print_config: bool = MISSING
    torch_threads: Optional[int] = MISSING  # noqa: UP045
    run_lock: RunLockSchema = MISSING  # type: ignore[valid-type]
    # The wings' nodes: typed by the schema each YAML file names, so that a data module, model
    # or callback of your own brings its own keys.
    data: Any = MISSING
    model: Any = MISSING
    callbacks: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    trainer: TrainerSchema = MISSING  # type: ignore[valid-type]
    paths: PathsOptions = MISSING


def root_problems(o: Any) -> Iterator[tuple[str, str]]:
    """Root options that contradict each other or name no file: (key, the rule it breaks)."""
    if not o.train and o.ckpt_path is None:
        yield (
            "train",
            (
                "train=false evaluates a checkpoint on Test: give it one with "
                "ckpt_path=<run>/checkpoints/last.ckpt (or best-*.ckpt), or use `make eval "
                "CKPT=<checkpoint, run or sweep folder>`"
            ),
        )
    if not o.train and not o.test:
        yield "test", "with train=false the run only tests; test=false leaves it nothing to do"
    if o.ckpt_path is not None and not Path(o.ckpt_path).expanduser().is_file():
        yield (
            "ckpt_path",
            (
                f"no such file (relative paths start at {Path.cwd()}); give a checkpoint of a run "
                f"folder, e.g. <run>/checkpoints/last.ckpt"
            ),
        )
    if o.torch_threads is not None and o.torch_threads < 1:
        yield "torch_threads", "it must be >= 1"


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore: `train_schema` (named in `train.yaml`), the
    wings' (named in their YAML files) and the launchers'."""
    register_launcher_configs()
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    for (group, name), node in WING_SCHEMAS.items():
        store.store(group=group, name=name, node=node)


def _components(cfg: DictConfig) -> list[tuple[str, DictConfig]]:
    """The config nodes that build components: data, model, its network, each callback and
    logger."""
    nodes = [("data", cfg.get("data")), ("model", cfg.get("model"))]
    model = cfg.get("model")
    if isinstance(model, DictConfig):
        nodes.append(("model.net", model.get("net")))
    for group in ("callbacks", "logger"):
        for name, node in (cfg.get(group) or {}).items():
            nodes.append((f"{group}.{name}", node))
    return [(key, node) for key, node in nodes if isinstance(node, DictConfig)]


def _checked_nodes(cfg: DictConfig) -> Iterator[tuple[str, ComponentOptions, DictConfig]]:
    """Each node with options to check: where it sits, its options and its values."""
    yield "", ComponentOptions(TrainConfig, root_problems, ()), cfg
    yield "trainer", TRAINER_OPTIONS, cfg.trainer
    yield "run_lock", RUN_LOCK_OPTIONS, cfg.run_lock
    for path, node in _components(cfg):
        options = CHECKED_BY_TARGET.get(str(node.get("_target_")))
        if options is not None:
            yield path, options, node


def validate_config(cfg: DictConfig) -> None:
    """Type every value (a wrong type, an unknown or a missing key fails), then run each
    node's checks, before anything is built. A node typed only here, by its `_target_` (a
    callback added on the command line), may leave out what its signature gives a default."""
    for path, options, node in _checked_nodes(cfg):
        schema = options.schema
        try:
            values = OmegaConf.to_container(node, resolve=True)
            if options.takes_more:  # keys beyond the signature go on to its **kwargs
                values = {k: v for k, v in values.items() if k in schema.__dataclass_fields__}
            typed = OmegaConf.merge(OmegaConf.structured(schema), values)
        except OmegaConfBaseException as error:
            key = full_key(path, str(getattr(error, "full_key", "") or ""))
            raise fix_the_key(key, f"{key}: {str(error).splitlines()[0].rstrip('.')}") from None
        missing = sorted(OmegaConf.missing_keys(typed) - options.with_default)
        if missing:
            key = full_key(path, missing[0])
            needs = f"{schema.__name__} needs one for every argument without a default"
            raise fix_the_key(key, f"{key}: it has no value ({needs})")
        filled = {k: v for k, v in OmegaConf.to_container(typed).items() if v != "???"}
        check(options.problems, SimpleNamespace(**filled), path)
