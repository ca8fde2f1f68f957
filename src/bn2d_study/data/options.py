"""The options of `HindiDigitsDataModule` (`configs/data/dhcd.yaml` states each one's value and
meaning): typed and checked here before anything is built, without torch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING

from bn2d_study.errors import require, unset

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.


@dataclass
class DataOptions:
    """`data=dhcd` (configs/data/dhcd.yaml, which states every key's value): the keys, their
    types and their checks."""

    _target_: str = MISSING
    data_dir: str = MISSING
    archive: Optional[str] = MISSING  # noqa: UP045
    url: str = MISSING
    batch_size: int = MISSING
    val_fraction: float = MISSING
    split_seed: int = MISSING
    num_workers: int = MISSING
    pin_memory: bool = MISSING
    normalize: bool = MISSING
    classes: str = MISSING
    num_classes: int = MISSING
    image_size: int = MISSING
    train_per_class: Optional[int] = MISSING  # noqa: UP045
    test_per_class: Optional[int] = MISSING  # noqa: UP045
    cache_name: str = MISSING
    device_resident: Any = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(self.batch_size >= 1, "data.batch_size", self.batch_size, "it must be >= 1")
        require(
            self.device_resident in (True, False, "auto"),
            "data.device_resident",
            self.device_resident,
            "it must be auto, true or false",
        )
        require(
            0 <= self.val_fraction < 1,
            "data.val_fraction",
            self.val_fraction,
            "it must be in [0, 1); 0 evaluates on Test every epoch",
        )
        require(self.num_workers >= 0, "data.num_workers", self.num_workers, "it must be >= 0")
        for key in ("train_per_class", "test_per_class"):
            value = getattr(self, key)
            require(value is None or value >= 1, f"data.{key}", value, "it must be >= 1 or null")
        for key in ("num_classes", "image_size"):
            require(getattr(self, key) >= 1, f"data.{key}", getattr(self, key), "it must be >= 1")
        try:
            re.compile(self.classes)
        except re.error as error:
            require(False, "data.classes", self.classes, f"not a regular expression ({error})")
        if self.archive is not None:
            require(
                Path(self.archive).expanduser().exists(),
                "data.archive",
                self.archive,
                f"no such file or folder (set by data.archive or DHCD_ARCHIVE; relative paths "
                f"start at {Path.cwd()}); point it at the official DHCD zip (or an archive or "
                f"folder of the same layout), or unset it (data.archive=null) to download "
                f"{self.url}",
            )


# What the config wing registers (configs/data/dhcd.yaml names its schema in its defaults), and
# the options checked before anything is built, by the `_target_` they configure.
SCHEMAS = {("data", "dhcd_schema"): DataOptions}
CHECKED = {"bn2d_study.data.HindiDigitsDataModule": DataOptions}
