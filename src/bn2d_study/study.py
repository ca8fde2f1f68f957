"""The study this template reproduces, defined once: what it compares, what it measures, its
reference setting and its published numbers.

The report, TensorBoard's HParams and `experiment=paper` read it from here. Another study (your
own ablation) changes this module: the key it is about, the keys always shown beside it, the
outcome metrics, and its reference setting (docs/adapt.md).
"""

from __future__ import annotations

from typing import Any

# The switch the study is about: the report compares its values by default, paired by seed.
BATCHNORM_KEY = "model.use_batchnorm"

# Keys shown in TensorBoard's HParams for every run, swept or not (overridden keys join them).
STUDY_KEYS = (BATCHNORM_KEY, "data.batch_size", "seed", "model.optimizer.lr")

# The outcome shown beside them: HParams key -> the metric it reports at the end of the run.
OUTCOME_METRICS = {
    "hparams/final_train_loss": "train/loss",
    "hparams/final_val_acc": "val/acc",
    "hparams/final_test_acc": "test/acc",
    "hparams/best_ckpt_test_acc": "best_ckpt/acc",
}

# The protocol's setting (config key -> value): `experiment=paper` runs it, and the published
# numbers below were measured at it.
REFERENCE: dict[str, Any] = {
    "seed": 5842,
    "data.batch_size": 32,
    "model.optimizer.lr": 0.001,
    "trainer.max_epochs": 30,
}

# The published numbers, per epoch: (no-BN train loss, no-BN test acc, BN train loss, BN test
# acc); None where the study did not publish one.
PUBLISHED_EPOCHS: dict[int, tuple[float | None, float, float | None, float]] = {
    0: (2.118166, 0.816000, 0.629183, 0.940333),
    1: (0.513233, 0.900667, 0.213117, 0.964000),
    2: (0.275158, 0.914667, 0.143794, 0.973000),
    3: (0.235627, 0.869667, 0.111893, 0.979333),
    4: (0.214261, 0.929667, 0.092034, 0.982000),
    29: (None, 0.9240, None, 0.9913),
}


def reference(key: str) -> Any:
    """The reference setting's value of one config key (the `study` resolver of the configs:
    `seed: ${study:seed}` in configs/experiment/paper.yaml)."""
    return REFERENCE[key]


def at_reference(
    config: dict[str, Any], keys: tuple[str, ...] = ("seed", "data.batch_size")
) -> bool:
    """Whether a run's (flattened) config is at the reference setting in `keys`."""
    return all(config.get(key) == REFERENCE[key] for key in keys)
