"""Running `train.py` and building the data module on small data, as the tests do."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from bn2d_study.data import HindiDigitsDataModule
from helpers.archives import TINY_TEST_PER_CLASS, TINY_TRAIN_PER_CLASS
from helpers.components import configured

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
    return configured(
        "data", data_dir=str(data_dir), archive=str(archive) if archive else None, **settings
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


def sweep_on_tiny_data(
    overrides: list[str],
    archive: Path,
    tmp_path: Path,
    timeout: float = 300,
    per_class: tuple[int, int] = (TINY_TRAIN_PER_CLASS, TINY_TEST_PER_CLASS),
) -> tuple[Path, str]:
    """Run `train.py -m OVERRIDES` on a small archive (`per_class`: its train and test images
    per digit) into `tmp_path/sweep`, to its end: the sweep folder and the output."""
    sweep = tmp_path / "sweep"
    args = ["-m", *overrides, f"hydra.sweep.dir={sweep}"]
    args += tiny_data_overrides(archive, tmp_path / "data", *per_class)
    return sweep, finish(launch(args, tmp_path), timeout=timeout)


def launch(
    args: list[str], cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start `python train.py ARGS` in `cwd` (without DHCD_ARCHIVE), output captured."""
    env = {k: v for k, v in os.environ.items() if k != "DHCD_ARCHIVE"} | (extra_env or {})
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


def fail(process: subprocess.Popen[str], timeout: float = 300) -> str:
    """Wait for a `launch`ed process that must stop with exit status 1 and one paragraph, no
    traceback; return its output."""
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 1, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    return output
