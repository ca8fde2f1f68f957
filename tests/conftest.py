"""Shared fixtures: small archives in the official DHCD layout, the real archive copy, configs."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bn2d_study.config_schema import register_configs
from bn2d_study.data import HindiDigitsDataModule
from bn2d_study.utils.compose import TrainConfigComposer, train_config_composer
from bn2d_study.utils.resolvers import register_resolvers

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY_TRAIN_PER_CLASS = 12
TINY_TEST_PER_CLASS = 4

register_configs()
register_resolvers()


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def make_dhcd_zip(
    path: Path,
    train_per_class: int = TINY_TRAIN_PER_CLASS,
    test_per_class: int = TINY_TEST_PER_CLASS,
    root: str = "DevanagariHandwrittenCharacterDataset",
    split_names: tuple[str, str] = ("Train", "Test"),
    image_size: int = 32,
    seed: int = 0,
    extra_members: dict[str, bytes] | None = None,
) -> Path:
    """Write a zip in the official layout: `<root>/Train/digit_k/<id>.png`, random pixels.

    File ids run from 1 upward, so string order ("10.png" < "9.png") differs from numeric
    order, as in the real archive; each class's pixels are offset so classes differ.
    """
    rng = np.random.default_rng(seed)
    next_id = 1
    with zipfile.ZipFile(path, "w") as archive:
        for split, per_class in zip(split_names, (train_per_class, test_per_class), strict=True):
            for digit in range(10):
                for _ in range(per_class):
                    pixels = rng.integers(0, 200, (image_size, image_size), dtype=np.uint8)
                    pixels[digit : digit + 3, :] = 255
                    archive.writestr(f"{root}/{split}/digit_{digit}/{next_id}.png", _png(pixels))
                    next_id += 1
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
    return path


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


UNREACHABLE_URL = "http://127.0.0.1:9/dhcd.zip"  # nothing listens on the discard port


def make_tiny_datamodule(
    archive: Path | None, data_dir: Path, **options: object
) -> HindiDigitsDataModule:
    """A data module over a tiny archive; downloads go to an address that refuses them."""
    settings: dict[str, object] = {
        "train_per_class": TINY_TRAIN_PER_CLASS,
        "test_per_class": TINY_TEST_PER_CLASS,
        "url": UNREACHABLE_URL,
    }
    settings.update(options)
    return HindiDigitsDataModule(
        data_dir=str(data_dir), archive=str(archive) if archive else None, **settings
    )


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    """The rows of a run's `csv/metrics.csv` (written by the CSV logger)."""
    with (run_dir / "csv" / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def tiny_data_overrides(
    archive: Path,
    data_dir: Path,
    train_per_class: int = TINY_TRAIN_PER_CLASS,
    test_per_class: int = TINY_TEST_PER_CLASS,
) -> list[str]:
    """Overrides that point the data module at a small archive and its own cache folder."""
    return [
        f"data.archive={archive}",
        f"data.data_dir={data_dir}",
        f"data.train_per_class={train_per_class}",
        f"data.test_per_class={test_per_class}",
    ]


@pytest.fixture
def compose_train_config() -> Iterator[TrainConfigComposer]:
    """Compose `configs/train.yaml` as `train.py` would, with the run folder set to a path."""
    with train_config_composer() as compose:
        yield compose


def launch(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """Start `python train.py ARGS` in `cwd` (without DHCD_ARCHIVE), output captured."""
    env = {k: v for k, v in os.environ.items() if k != "DHCD_ARCHIVE"}
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> str:
    """Wait for a `launch`ed process, assert it succeeded, return its output."""
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output
