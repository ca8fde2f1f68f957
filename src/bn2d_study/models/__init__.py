"""The study's CNN and the LightningModule that trains it; their options in `options`."""

from __future__ import annotations

from typing import Any

__all__ = ["DigitClassifier", "build_cnn"]

_WHERE = {"DigitClassifier": "classifier", "build_cnn": "cnn"}


def __getattr__(name: str) -> Any:
    # The modules import torch; importing them on first use keeps `models.options` (read by the
    # config schema before anything is built) free of it.
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f"bn2d_study.models.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
