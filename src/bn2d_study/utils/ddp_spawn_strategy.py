"""`DDPSpawnStrategy`: Lightning's "ddp_spawn" that closes its process group before exit."""

from __future__ import annotations

import atexit

import torch.distributed
from lightning.pytorch.strategies import DDPStrategy


def destroy_process_group_if_initialized() -> None:
    """Close this process's default process group, if it has one (an atexit handler)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


class DDPSpawnStrategy(DDPStrategy):
    """Lightning's `ddp_spawn` strategy (DDP in processes it spawns): each worker also closes
    its process group when it exits, whatever the backend.

    Lightning closes an NCCL group at exit, but leaves a gloo group (DDP on CPUs) to the
    interpreter's teardown. There, gloo's threads can outlive the objects they use, and the
    worker can abort after its work is done ("terminate called without an active exception",
    SIGABRT), which fails the run (measured in docs/cluster.md).
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(start_method="spawn", **kwargs)  # type: ignore[arg-type]

    def setup_distributed(self) -> None:
        """Join the process group as Lightning does, then have it closed at exit."""
        super().setup_distributed()
        atexit.register(destroy_process_group_if_initialized)
