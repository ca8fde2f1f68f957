"""The options of `HindiDigitsDataModule`: its signature names and types them,
`configs/data/dhcd.yaml` states each one's value and meaning, and `data_problems` checks what
types cannot say, before anything is built (without torch)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bn2d_study.signature_options import by_target, options_of


def data_problems(o: Any) -> Iterator[tuple[str, str]]:
    """Each data option out of range: (key, the rule it breaks)."""
    for key in ("batch_size", "num_classes", "image_size"):
        if getattr(o, key) < 1:
            yield key, "it must be >= 1"
    if o.num_workers < 0:
        yield "num_workers", "it must be >= 0"
    if o.device_resident not in (True, False, "auto"):
        yield "device_resident", "it must be auto, true or false"
    if not 0 <= o.val_fraction < 1:
        yield "val_fraction", "it must be in [0, 1); 0 evaluates on Test every epoch"
    for key in ("train_per_class", "test_per_class"):
        if getattr(o, key) is not None and getattr(o, key) < 1:
            yield key, "it must be >= 1 or null"
    try:
        re.compile(o.classes)
    except re.error as error:
        yield "classes", f"not a regular expression ({error})"
    if o.archive is not None and not Path(o.archive).expanduser().exists():
        yield "archive", (
            f"no such file or folder (set by data.archive or DHCD_ARCHIVE; relative paths start "
            f"at {Path.cwd()}); point it at the official DHCD zip (or an archive or folder of the "
            f"same layout), or unset it (data.archive=null) to download {o.url}"
        )


DATA_OPTIONS = options_of(
    "bn2d_study.data.datamodule.HindiDigitsDataModule",
    problems=data_problems,
)

# What the config wing registers (configs/data/dhcd.yaml names its schema in its defaults), and
# the options checked before anything is built, by the `_target_` they configure.
SCHEMAS = {("data", "dhcd_schema"): DATA_OPTIONS.schema}
CHECKED = by_target(DATA_OPTIONS)
