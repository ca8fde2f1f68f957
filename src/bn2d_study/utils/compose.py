"""Compose `configs/train.yaml` in Python, as `train.py` would (for tools and tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from bn2d_study.config_schema import register_configs
from bn2d_study.utils.resolvers import register_resolvers

# The repository's configs/ (this file is src/bn2d_study/utils/compose.py).
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"

TrainConfigComposer = Callable[..., DictConfig]


@contextmanager
def train_config_composer() -> Iterator[TrainConfigComposer]:
    """Yield `compose(overrides, output_dir=None)`, which returns a run's config.

    `hydra:` interpolations (the run folder) resolve as in a run, with the run folder set to
    `output_dir` when given; Hydra's global state is cleared on exit.
    """
    register_configs()
    register_resolvers()

    def _compose(overrides: list[str], output_dir: Path | None = None) -> DictConfig:
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
        if output_dir is not None:
            with open_dict(cfg):
                cfg.hydra.runtime.output_dir = str(output_dir)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        try:
            yield _compose
        finally:
            GlobalHydra.instance().clear()
