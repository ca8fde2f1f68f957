"""The schemas of this project's submitit launchers: the plugin's settings plus the bounded
wait's and the packing's (configs/hydra/launcher/*.yaml state their values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from omegaconf import MISSING

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.


@dataclass
class BoundedWaitAndPacking:
    """What this project's launchers add to the plugin's settings: the bounded wait for lost
    jobs and the packing of several runs into one task (docs/cluster.md)."""

    poll_s: float = MISSING
    lost_after_s: float = MISSING
    runs_per_task: int = MISSING
    runs_at_once: Optional[int] = MISSING  # noqa: UP045


@dataclass
class BoundedSlurmQueueConf(SlurmQueueConf, BoundedWaitAndPacking):
    """`hydra/launcher=submitit_slurm`."""

    _target_: str = "hydra_plugins.bn2d_study_launchers.bounded_submitit.BoundedSlurmLauncher"


@dataclass
class BoundedLocalQueueConf(LocalQueueConf, BoundedWaitAndPacking):
    """`hydra/launcher=submitit_local`."""

    _target_: str = "hydra_plugins.bn2d_study_launchers.bounded_submitit.BoundedLocalLauncher"


def register_launcher_configs() -> None:
    """Store these schemas under the submitit plugin's names, so that configs/hydra/launcher/
    submitit_*.yaml are checked against them.

    Hydra's plugin scan (once per process) runs the plugin's own registration: scan first, so
    that these come after it.
    """
    Plugins.instance()
    store = ConfigStore.instance()
    for name, node in (
        ("submitit_slurm", BoundedSlurmQueueConf),
        ("submitit_local", BoundedLocalQueueConf),
    ):
        store.store(group="hydra/launcher", name=name, node=node, provider="bn2d_study")
