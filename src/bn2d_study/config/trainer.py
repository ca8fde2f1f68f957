"""The options of Lightning's Trainer (`trainer`): every argument of its signature, typed and
checked before anything is built, without torch.

configs/trainer/default.yaml states every value: Lightning's defaults, except where it sets the
study's. docs/lightning-flags.md lists the flags tested against a plain Lightning Trainer. A
Lightning upgrade that adds an argument makes the YAML incomplete: composing then names the key
to add.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bn2d_study.signature_options import options_of


def trainer_problems(o: Any) -> Iterator[tuple[str, str]]:
    """Trainer options that this project cannot run: (key, the rule it breaks)."""
    if o.max_epochs is not None and o.max_epochs < 1 and o.max_epochs != -1:
        yield (
            "max_epochs",
            ("it must be >= 1, or -1 (no limit: stop by trainer.max_steps or trainer.max_time)"),
        )
    if o.logger not in (None, True, False) and o.logger != []:
        yield (
            "logger",
            (
                "it must be null (the loggers of the `logger` group), or false or [] (no logger); "
                "choose loggers with the group instead, e.g. logger=csv or logger=[csv,tensorboard]"
            ),
        )


TRAINER_OPTIONS = options_of(
    "lightning.pytorch.trainer.trainer.Trainer",
    also_named=["lightning.Trainer"],
    problems=trainer_problems,
    given_by_caller=["callbacks"],  # built from the `callbacks` group
)
