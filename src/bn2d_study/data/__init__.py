"""DHCD digits: archive reading, the on-disk cache and the LightningDataModule."""

from __future__ import annotations

from typing import Any

__all__ = ["HindiDigitsDataModule"]


def __getattr__(name: str) -> Any:
    # The data module imports Lightning; importing it on first use keeps `bn2d_study.data.dhcd`
    # (read by the config schema before anything is built) free of it.
    if name == "HindiDigitsDataModule":
        from bn2d_study.data.datamodule import HindiDigitsDataModule

        return HindiDigitsDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
