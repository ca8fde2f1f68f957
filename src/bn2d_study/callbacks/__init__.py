"""Lightning callbacks of the study; their options in `options`."""

from __future__ import annotations

from typing import Any

__all__ = [
    "DivergenceStop",
    "EpochTimer",
    "InterruptedCheckpoint",
    "LossLandscapeProbe",
    "RandomStates",
    "SampledWeightsLogger",
    "TensorBoardLayout",
    "TrainingDivergedError",
]

_WHERE = {
    "DivergenceStop": "divergence",
    "TrainingDivergedError": "divergence",
    "EpochTimer": "epoch_timer",
    "InterruptedCheckpoint": "interrupted_checkpoint",
    "LossLandscapeProbe": "loss_landscape",
    "RandomStates": "random_states",
    "SampledWeightsLogger": "sampled_weights",
    "TensorBoardLayout": "tensorboard_layout",
}


def __getattr__(name: str) -> Any:
    # The callbacks import Lightning; importing them on first use keeps `callbacks.options`
    # (read by the config schema before anything is built) free of it.
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f"bn2d_study.callbacks.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
