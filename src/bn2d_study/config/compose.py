"""Compose `configs/train.yaml` in Python, as `train.py` would (for tools and tests)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from bn2d_study.config.resolvers import register_resolvers
from bn2d_study.config.schema import register_configs


def find_config_dir() -> Path:
    """The project's `configs/`, however the package is installed.

    In order: `$BN2D_CONFIG_DIR`; `$PROJECT_ROOT/configs` (train.py sets PROJECT_ROOT); the
    source tree of an editable install; the current folder or one above it (a checkout, with
    the package installed into site-packages).
    """
    candidates = [os.environ.get("BN2D_CONFIG_DIR")]
    if os.environ.get("PROJECT_ROOT"):
        candidates.append(str(Path(os.environ["PROJECT_ROOT"]) / "configs"))
    candidates.append(str(Path(__file__).resolve().parents[3] / "configs"))
    candidates += [str(folder / "configs") for folder in (Path.cwd(), *Path.cwd().parents)]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "train.yaml").is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "No configs/train.yaml found: run from the project's checkout, or set BN2D_CONFIG_DIR "
        "(or PROJECT_ROOT) to the folder that holds configs/."
    )


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
    with initialize_config_dir(config_dir=str(find_config_dir()), version_base="1.3"):
        try:
            yield _compose
        finally:
            GlobalHydra.instance().clear()
