"""The options of how a run holds its folder (`run_lock` in configs/train.yaml, which states
their values): typed and checked before anything is built."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from bn2d_study.errors import require, unset


@dataclass
class RunLockOptions:
    """`run_lock`: the keys of `bn2d_study.run_folder.lock.RunLock`, their types and checks."""

    heartbeat_s: float = MISSING
    stale_after_s: float = MISSING

    def __post_init__(self) -> None:
        if unset(self):
            return
        require(self.heartbeat_s > 0, "run_lock.heartbeat_s", self.heartbeat_s, "it must be > 0")
        require(
            self.stale_after_s > self.heartbeat_s,
            "run_lock.stale_after_s",
            self.stale_after_s,
            "it must be longer than run_lock.heartbeat_s",
        )
