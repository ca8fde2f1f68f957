"""The options of how a run holds its folder (`run_lock` in configs/train.yaml, which states
their values): `RunLock`'s signature names and types them; `run_lock_problems` checks them
before anything is built."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bn2d_study.signature_options import options_of


def run_lock_problems(o: Any) -> Iterator[tuple[str, str]]:
    """Each lock option out of range: (key, the rule it breaks)."""
    if o.heartbeat_s <= 0:
        yield "heartbeat_s", "it must be > 0"
    if o.stale_after_s <= o.heartbeat_s:
        yield "stale_after_s", "it must be longer than run_lock.heartbeat_s"


RUN_LOCK_OPTIONS = options_of(
    "bn2d_study.run_folder.lock.RunLock",
    problems=run_lock_problems,
    given_by_caller=["run_dir"],  # the run's output folder
    instantiated=False,  # the run builds its lock itself, with these values
)
