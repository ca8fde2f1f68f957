"""The options of this project's callbacks (`configs/callbacks/default.yaml` states each one's
value and meaning): typed and checked here before anything is built, without torch.

A callback without options here (any Lightning callback, or a new one of yours) is checked by
its `_target_`'s signature when the run builds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from bn2d_study.errors import require, unset

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.


@dataclass
class SampledWeightsOptions:
    """`callbacks.sampled_weights`: `SampledWeightsLogger`'s keys, types and checks."""

    _target_: str = MISSING
    output_dir: str = MISSING
    indices: list[list[int]] = MISSING
    layer: Optional[str] = MISSING  # noqa: UP045
    every_step: bool = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(
            len(self.indices) == 2,
            "callbacks.sampled_weights.indices",
            self.indices,
            "it must hold exactly two weight indices",
        )


@dataclass
class LossLandscapeOptions:
    """`callbacks.loss_landscape` (`callbacks=landscape`): `LossLandscapeProbe`'s keys, types
    and checks."""

    _target_: str = MISSING
    every_n_steps: int = MISSING
    step_sizes: list[float] = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(
            self.every_n_steps >= 1,
            "callbacks.loss_landscape.every_n_steps",
            self.every_n_steps,
            "it must be >= 1",
        )
        require(
            bool(self.step_sizes) and all(eta > 0 for eta in self.step_sizes),
            "callbacks.loss_landscape.step_sizes",
            self.step_sizes,
            "it must be a non-empty list of positive numbers",
        )


@dataclass
class DivergenceOptions:
    """`callbacks.divergence`: `DivergenceStop`'s keys, types and checks."""

    _target_: str = MISSING
    check_every_n_steps: int = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(
            self.check_every_n_steps >= 1,
            "callbacks.divergence.check_every_n_steps",
            self.check_every_n_steps,
            "it must be >= 1",
        )


# What the config wing registers (configs/callbacks/default.yaml names these schemas in its
# defaults), and the options checked before anything is built, by the `_target_` they configure.
SCHEMAS = {
    ("callbacks", "sampled_weights_schema"): SampledWeightsOptions,
    ("callbacks", "loss_landscape_schema"): LossLandscapeOptions,
    ("callbacks", "divergence_schema"): DivergenceOptions,
}
CHECKED = {
    "bn2d_study.callbacks.SampledWeightsLogger": SampledWeightsOptions,
    "bn2d_study.callbacks.LossLandscapeProbe": LossLandscapeOptions,
    "bn2d_study.callbacks.DivergenceStop": DivergenceOptions,
}
