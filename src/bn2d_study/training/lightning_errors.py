"""Lightning's verdicts on its settings, raised once a run is under way, as one paragraph naming
the config key (like the project's own errors)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lightning.fabric.utilities.exceptions import MisconfigurationException

from bn2d_study.config.key_errors import config_error


def _raised_by_lightning(error: BaseException) -> bool:
    """Whether the innermost frame of the error's traceback is Lightning's own code."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    if traceback is None:
        return False
    return f"{os.sep}lightning{os.sep}" in traceback.tb_frame.f_code.co_filename


def _is_lightning_config_error(error: BaseException) -> bool:
    """Lightning's verdict on its settings, raised once a run is under way: a
    `MisconfigurationException`, a `ValueError` raised by Lightning itself (e.g. a
    `val_check_interval` longer than the epoch), or EarlyStopping's missing metric."""
    if isinstance(error, MisconfigurationException):
        return True
    if isinstance(error, ValueError) and _raised_by_lightning(error):
        return True
    # EarlyStopping(strict=True) on a metric that is never logged.
    return isinstance(error, RuntimeError) and "Early stopping conditioned on metric" in str(error)


@contextmanager
def lightning_config_errors(sections: dict[str, Any]) -> Iterator[None]:
    """Lightning's configuration errors (`MisconfigurationException` and the like) raised
    while fitting or testing, as one-paragraph `ConfigError`s naming the key of `sections`
    (e.g. `trainer`, `callbacks`) that they quote. Other errors pass unchanged."""
    try:
        yield
    except Exception as error:
        if not _is_lightning_config_error(error):
            raise
        raise config_error(sections, error, "from Lightning") from error
