"""The options of `DigitClassifier` and of the study's CNN (`configs/model/cnn.yaml` and
`configs/model/net/cnn.yaml` state each one's value and meaning): typed and checked here before
anything is built, without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from bn2d_study.errors import require, unset

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.


@dataclass
class CnnOptions:
    """`model/net=cnn`: the keys of `build_cnn`, their types and their checks."""

    _target_: str = MISSING
    _partial_: bool = MISSING
    conv_layers: int = MISSING
    filters: int = MISSING
    kernel_size: int = MISSING
    pool_size: int = MISSING
    image_size: int = MISSING
    num_classes: int = MISSING
    dropout: float = MISSING
    inplace_relu: bool = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        for key in ("conv_layers", "filters", "pool_size", "num_classes", "image_size"):
            value = getattr(self, key)
            require(value >= 1, f"model.net.{key}", value, "it must be >= 1")
        require(
            self.kernel_size >= 1 and self.kernel_size % 2 == 1,
            "model.net.kernel_size",
            self.kernel_size,
            "it must be odd (same padding)",
        )
        require(
            self.pool_size <= self.image_size,
            "model.net.pool_size",
            self.pool_size,
            f"it must be <= the image size, {self.image_size}",
        )
        require(0 <= self.dropout < 1, "model.net.dropout", self.dropout, "it must be in [0, 1)")


@dataclass
class ClassifierOptions:
    """`model=cnn`: the keys of `DigitClassifier`, their types and their checks; the network's
    own under `net`, the metrics' under `metrics`."""

    _target_: str = MISSING
    use_batchnorm: bool = MISSING
    net: Any = MISSING
    optimizer: Any = MISSING
    metrics: Any = MISSING
    scheduler: Any = MISSING
    channels_last: bool = MISSING
    compile: bool = MISSING
    compile_mode: Optional[str] = MISSING  # noqa: UP045

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(
            not isinstance(self.metrics, dict) or bool(self.metrics),
            "model.metrics",
            self.metrics,
            "it needs at least one metric; choose model/metrics=lean or model/metrics=torchmetrics",
        )
        require(
            self.compile_mode in (None, "default", "reduce-overhead", "max-autotune"),
            "model.compile_mode",
            self.compile_mode,
            "it must be null, default, reduce-overhead or max-autotune",
        )


# What the config wing registers (the YAML files name these schemas in their defaults), and the
# options checked before anything is built, by the `_target_` they configure.
SCHEMAS = {
    ("model", "classifier_schema"): ClassifierOptions,
    ("model/net", "cnn_schema"): CnnOptions,
}
CHECKED = {
    "bn2d_study.models.DigitClassifier": ClassifierOptions,
    "bn2d_study.models.build_cnn": CnnOptions,
}
