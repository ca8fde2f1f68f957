"""The project's components as the default config builds them, with some options changed: the
values come from the YAML files (the one place that states them), as in a run."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bn2d_study.config.compose import train_config_composer


@cache
def default_config() -> DictConfig:
    """`configs/train.yaml` composed with `callbacks=landscape` (every callback of the project),
    resolved, with a scratch folder as the run folder."""
    if GlobalHydra.instance().is_initialized():
        raise RuntimeError("compose the defaults before a test opens its own Hydra context")
    with train_config_composer() as compose:
        cfg = compose(["callbacks=landscape"], output_dir=Path(tempfile.mkdtemp()))
        return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


def configured(key: str, **options: Any) -> Any:
    """The component at config node `key` (`data`, `model`, `model.net`, `callbacks.<name>`),
    built from the defaults with `options` (any Python values) in place of theirs."""
    return instantiate(OmegaConf.select(default_config(), key), **options)


def make_classifier(**options: Any) -> Any:
    """`DigitClassifier` as `model=cnn` builds it, e.g. `make_classifier(use_batchnorm=False)`."""
    return configured("model", **options)


def make_cnn(use_batchnorm: bool, **options: Any) -> Any:
    """The study's CNN (`model/net=cnn`) with `options` changed."""
    return configured("model.net", **options)(use_batchnorm=use_batchnorm)


def make_callback(name: str, **options: Any) -> Any:
    """The callback `callbacks.<name>` of the defaults, with `options` changed."""
    return configured(f"callbacks.{name}", **options)


def cache_name() -> str:
    """The data cache's file name, as configured (configs/data/dhcd.yaml)."""
    return str(default_config().data.cache_name)
