"""The typed schema of `configs/train.yaml`: it assembles the wings' options and checks every
value before anything is built.

Each wing owns its options (`data/options.py`, `models/options.py`, `callbacks/options.py`,
`run_folder/options.py`; the Trainer's in `config/trainer.py`; the launchers' beside the
launchers, in `hydra_plugins/bn2d_study_launchers/config.py`). The YAML files state every
value, once, and name their schema in their defaults list; Hydra then types them at composition
(a wrong type or an unknown key fails there), and `validate_config` runs the value checks. This
module loads in a fraction of a second, without torch or Lightning: a config error shows before
either is imported. `python train.py --cfg job` prints the composed config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bn2d_study.callbacks import options as callback_options
from bn2d_study.config.trainer import TrainerOptions
from bn2d_study.data import options as data_options
from bn2d_study.errors import ConfigError, require, unset
from bn2d_study.models import options as model_options
from bn2d_study.run_folder.options import RunLockOptions
from hydra_plugins.bn2d_study_launchers.config import register_launcher_configs

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.

# Every wing's schemas, stored where their YAML files name them, and the options checked by
# the `_target_` they configure (a component of yours is checked by its signature when built).
WING_SCHEMAS = {**data_options.SCHEMAS, **model_options.SCHEMAS, **callback_options.SCHEMAS}
CHECKED_BY_TARGET: dict[str, type] = {
    **data_options.CHECKED,
    **model_options.CHECKED,
    **callback_options.CHECKED,
}


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
    run_lock: RunLockOptions = MISSING
    # The wings' nodes: typed by the schema each YAML file names, so that a data module, model
    # or callback of your own brings its own keys.
    data: Any = MISSING
    model: Any = MISSING
    callbacks: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    trainer: TrainerOptions = MISSING
    paths: PathsOptions = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(
            self.train or self.ckpt_path is not None,
            "train",
            self.train,
            "train=false evaluates a checkpoint on Test: give it one with "
            "ckpt_path=<run>/checkpoints/last.ckpt (or best-*.ckpt), or use `make eval "
            "CKPT=<checkpoint, run or sweep folder>`",
        )
        require(
            self.train or self.test,
            "test",
            self.test,
            "with train=false the run only tests; test=false leaves it nothing to do",
        )
        if self.ckpt_path is not None:
            require(
                Path(self.ckpt_path).expanduser().is_file(),
                "ckpt_path",
                self.ckpt_path,
                f"no such file (relative paths start at {Path.cwd()}); give a checkpoint of a "
                f"run folder, e.g. <run>/checkpoints/last.ckpt",
            )
        if self.torch_threads is not None:
            require(self.torch_threads >= 1, "torch_threads", self.torch_threads, "it must be >= 1")


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore: `train_schema` (named in `train.yaml`), the
    wings' (named in their YAML files) and the launchers'."""
    register_launcher_configs()
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    for (group, name), node in WING_SCHEMAS.items():
        store.store(group=group, name=name, node=node)


def _components(cfg: DictConfig) -> list[tuple[str, Any]]:
    """The config nodes that build components: data, model, its network, each callback."""
    nodes = [("data", cfg.get("data")), ("model", cfg.get("model"))]
    model = cfg.get("model")
    if isinstance(model, DictConfig):
        nodes.append(("model.net", model.get("net")))
    for name, node in (cfg.get("callbacks") or {}).items():
        nodes.append((f"callbacks.{name}", node))
    return [(key, node) for key, node in nodes if isinstance(node, DictConfig)]


def validate_config(cfg: DictConfig) -> None:
    """Check every value (the options' `__post_init__`) before anything is built."""
    try:
        OmegaConf.to_object(cfg)
        for _, node in _components(cfg):
            options = CHECKED_BY_TARGET.get(str(node.get("_target_")))
            if options is not None:
                values = OmegaConf.to_container(node, resolve=True)
                options(**values)  # type: ignore[arg-type]
    except OmegaConfBaseException as error:
        # OmegaConf wraps errors raised while building a dataclass; surface ours unwrapped.
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(str(error)) from error
