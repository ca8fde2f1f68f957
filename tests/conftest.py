"""Shared fixtures: a small archive in the official DHCD layout, the real archive copy, configs.

The helpers themselves live in `tests/helpers/` (docs/testing.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import make_dhcd_zip
from helpers.components import default_config

from bn2d_study.config.compose import TrainConfigComposer, train_config_composer
from bn2d_study.config.resolvers import register_resolvers
from bn2d_study.config.schema import register_configs

register_configs()
register_resolvers()
# The components' defaults, composed once, before any test opens a Hydra context of its own.
default_config()


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small DHCD-layout zip: 12 train and 4 test images per digit."""
    return make_dhcd_zip(tmp_path_factory.mktemp("tiny") / "dhcd-tiny.zip")


@pytest.fixture(scope="session")
def real_archive() -> Path:
    """The local copy of the official archive, named by DHCD_ARCHIVE (CI always sets it)."""
    value = os.environ.get("DHCD_ARCHIVE")
    if not value or not Path(value).is_file():
        message = f"DHCD_ARCHIVE={value!r} does not name the local DHCD archive copy"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the tests that need it.")
        pytest.skip(message)
    return Path(value).resolve()


@pytest.fixture
def compose_train_config() -> Iterator[TrainConfigComposer]:
    """Compose `configs/train.yaml` as `train.py` would, with the run folder set to a path."""
    with train_config_composer() as compose:
        yield compose
