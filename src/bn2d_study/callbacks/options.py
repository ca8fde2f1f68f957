"""The options of this project's callbacks: their signatures name and type them,
`configs/callbacks/default.yaml` states each one's value and meaning, and the checks below say
what types cannot, before anything is built (without torch).

A callback without options here (any Lightning callback, or a new one of yours) is checked by
its `_target_`'s signature when the run builds it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bn2d_study.signature_options import by_target, options_of


def sampled_weights_problems(o: Any) -> Iterator[tuple[str, str]]:
    """`SampledWeightsLogger`'s options out of range: (key, the rule it breaks)."""
    if len(o.indices) != 2:
        yield "indices", "it must hold exactly two weight indices"


def loss_landscape_problems(o: Any) -> Iterator[tuple[str, str]]:
    """`LossLandscapeProbe`'s options out of range: (key, the rule it breaks)."""
    if o.every_n_steps < 1:
        yield "every_n_steps", "it must be >= 1"
    if not o.step_sizes or any(eta <= 0 for eta in o.step_sizes):
        yield "step_sizes", "it must be a non-empty list of positive numbers"


def divergence_problems(o: Any) -> Iterator[tuple[str, str]]:
    """`DivergenceStop`'s options out of range: (key, the rule it breaks)."""
    if o.check_every_n_steps < 1:
        yield "check_every_n_steps", "it must be >= 1"


SAMPLED_WEIGHTS_OPTIONS = options_of(
    "bn2d_study.callbacks.sampled_weights.SampledWeightsLogger",
    problems=sampled_weights_problems,
)
LOSS_LANDSCAPE_OPTIONS = options_of(
    "bn2d_study.callbacks.loss_landscape.LossLandscapeProbe",
    problems=loss_landscape_problems,
)
DIVERGENCE_OPTIONS = options_of(
    "bn2d_study.callbacks.divergence.DivergenceStop",
    problems=divergence_problems,
)

# The other callbacks of configs/callbacks/default.yaml, typed by their signatures too.
OTHER_DEFAULT_CALLBACKS = [
    options_of("lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint"),
    options_of(
        "lightning.pytorch.callbacks.progress.tqdm_progress.TQDMProgressBar",
        also_named=["lightning.pytorch.callbacks.TQDMProgressBar"],
    ),
    options_of("bn2d_study.callbacks.epoch_timer.EpochTimer"),
    options_of("bn2d_study.callbacks.tensorboard_layout.TensorBoardLayout"),
    options_of("bn2d_study.callbacks.random_states.RandomStates"),
    options_of("bn2d_study.callbacks.interrupted_checkpoint.InterruptedCheckpoint"),
]

# What the config wing registers (configs/callbacks/*.yaml name these schemas in their defaults),
# and the options checked before anything is built, by the `_target_` they configure.
SCHEMAS = {
    ("callbacks", "sampled_weights_schema"): SAMPLED_WEIGHTS_OPTIONS.schema,
    ("callbacks", "loss_landscape_schema"): LOSS_LANDSCAPE_OPTIONS.schema,
    ("callbacks", "divergence_schema"): DIVERGENCE_OPTIONS.schema,
}
CHECKED = by_target(
    SAMPLED_WEIGHTS_OPTIONS, LOSS_LANDSCAPE_OPTIONS, DIVERGENCE_OPTIONS, *OTHER_DEFAULT_CALLBACKS
)
