"""What the tests share: small archives made on the fly, `train.py` runs on them, one tiny
Trainer factory, and a network of the tests' own (docs/testing.md)."""

from helpers.archives import (
    TINY_SPEC,
    TINY_TEST_PER_CLASS,
    TINY_TRAIN_PER_CLASS,
    make_class_folders,
    make_dhcd_zip,
)
from helpers.components import cache_name, configured, make_callback, make_classifier, make_cnn
from helpers.runs import (
    PROJECT_ROOT,
    UNREACHABLE_URL,
    fail,
    finish,
    launch,
    make_tiny_datamodule,
    read_metrics,
    sweep_on_tiny_data,
    tiny_data_overrides,
)
from helpers.trainers import tiny_trainer

__all__ = [
    "PROJECT_ROOT",
    "TINY_SPEC",
    "TINY_TEST_PER_CLASS",
    "TINY_TRAIN_PER_CLASS",
    "UNREACHABLE_URL",
    "cache_name",
    "configured",
    "fail",
    "finish",
    "launch",
    "make_callback",
    "make_class_folders",
    "make_classifier",
    "make_cnn",
    "make_dhcd_zip",
    "make_tiny_datamodule",
    "read_metrics",
    "sweep_on_tiny_data",
    "tiny_data_overrides",
    "tiny_trainer",
]
