"""The data-parallel strategy of `trainer=ddp` / `trainer=ddp_cpu`: started by SLURM or spawned.

- As several SLURM tasks (`hydra.launcher.tasks_per_node` x `nodes` > 1): Lightning's `ddp`,
  which takes each process's rank, world size and rendezvous from SLURM and starts no process
  of its own (`SlurmTasksDDPStrategy`). This is how a multi-GPU run is launched on a cluster, on
  one node or several.
- Otherwise (one process per run: a laptop, a local launcher, or one SLURM task that holds
  several GPUs): Lightning's `ddp_spawn` (`DDPSpawnStrategy`), with ranks of its own. Inside a
  single SLURM task, SLURM's rank variables describe the task, not the spawned workers, so
  they are not used: read as every worker's rank, they had two workers host the same
  rendezvous port (EADDRINUSE).

Both close their process group before the process exits.
"""

from __future__ import annotations

import atexit
from typing import Any

import torch.distributed
from lightning.fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
from lightning.pytorch.strategies import DDPStrategy

from bn2d_study.cluster.slurm_tasks import SlurmTasks


def destroy_process_group_if_initialized() -> None:
    """Close this process's default process group, if it has one (an atexit handler)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


class _ClosesItsProcessGroup(DDPStrategy):
    """Lightning closes an NCCL group at exit, but leaves a gloo group (DDP on CPUs) to the
    interpreter's teardown. There, gloo's threads can outlive the objects they use, and the
    process can abort after its work is done ("terminate called without an active
    exception", SIGABRT), which fails the run (measured in docs/cluster.md)."""

    def setup_distributed(self) -> None:
        """Join the process group as Lightning does, then have it closed at exit."""
        super().setup_distributed()
        atexit.register(destroy_process_group_if_initialized)


class DDPSpawnStrategy(_ClosesItsProcessGroup):
    """Lightning's `ddp_spawn` strategy (DDP in processes it spawns), ranks of its own."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cluster_environment", LightningEnvironment())
        super().__init__(start_method="spawn", **kwargs)


class SlurmTasksDDPStrategy(_ClosesItsProcessGroup):
    """Lightning's `ddp` in processes that SLURM started, one per task; ranks from SLURM.

    Requeueing is submitit's (`hydra.launcher.max_num_timeout`), so Lightning's own SLURM
    requeue handler stays off.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cluster_environment", SLURMEnvironment(auto_requeue=False))
        super().__init__(**kwargs)


def data_parallel_strategy(**kwargs: Any) -> DDPStrategy:
    """`SlurmTasksDDPStrategy` when this process is one of a run's SLURM tasks, else
    `DDPSpawnStrategy` (the `trainer.strategy` of configs/trainer/ddp.yaml)."""
    if SlurmTasks.from_environment() is not None:
        return SlurmTasksDDPStrategy(**kwargs)
    return DDPSpawnStrategy(**kwargs)
