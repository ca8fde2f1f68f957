"""One run as several SLURM tasks (DDP through SLURM): which task this process is, and how the
tasks agree on whether the run trains.

Every task of the job runs the same Hydra job. Only rank 0 holds the run folder (its lock, its
`run_status.json`, its config file); it decides whether the run trains (it may be finished
already, held by another live process, or misconfigured) and writes that decision into the run
folder. The other ranks wait for it, then train alongside or leave. Without the decision they
would either fight over the lock or wait forever in the process group's rendezvous.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bn2d_study.errors import StudyError
from bn2d_study.utils.atomic_write import atomic_write_text

# Where rank 0 writes its decisions, one file per SLURM job and restart, inside the run folder.
DECISIONS_DIR = ".ranks"
TRAIN, SKIP = "train", "skip"


class RankZeroSilentError(StudyError):
    """Rank 0 wrote no decision in time: it died, or cannot reach the run folder."""


@dataclass(frozen=True)
class SlurmTasks:
    """This process's place among the SLURM tasks of one run."""

    rank: int
    world_size: int
    job_id: str
    restart: int

    @classmethod
    def from_environment(cls) -> SlurmTasks | None:
        """This task's place, when the run is several SLURM tasks (srun with more than one
        task); None when the run is one process (or spawns its own)."""
        tasks = int(os.environ.get("SLURM_NTASKS", "1") or 1)
        if tasks <= 1 or "SLURM_PROCID" not in os.environ or "SLURM_STEP_ID" not in os.environ:
            return None
        return cls(
            rank=int(os.environ["SLURM_PROCID"]),
            world_size=tasks,
            job_id=os.environ.get("SLURM_JOB_ID", "0"),
            restart=int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
        )

    @property
    def is_rank_zero(self) -> bool:
        """Whether this task holds the run folder."""
        return self.rank == 0

    def _decision_path(self, run_dir: Path) -> Path:
        return Path(run_dir) / DECISIONS_DIR / f"job{self.job_id}.restart{self.restart}.json"

    def announce(self, run_dir: Path, decision: str) -> None:
        """Rank 0: tell the other ranks whether the run trains (`train`) or not (`skip`)."""
        path = self._decision_path(run_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"decision": decision, "rank0_pid": os.getpid()}))

    def announced(self, run_dir: Path) -> bool:
        """Whether rank 0 has decided for this job and restart."""
        return self._decision_path(run_dir).is_file()

    def wait_for_decision(self, run_dir: Path, timeout_s: float, poll_s: float = 0.2) -> str:
        """The other ranks: rank 0's decision, waiting up to `timeout_s` for it."""
        path = self._decision_path(run_dir)
        deadline = time.monotonic() + timeout_s
        while not path.is_file():
            if time.monotonic() > deadline:
                raise RankZeroSilentError(
                    f"Rank {self.rank} of SLURM job {self.job_id} waited {timeout_s:.0f} s for "
                    f"rank 0 to take the run folder {run_dir}, in vain: rank 0 died or cannot "
                    f"reach the folder (it must be on a file system that every node sees). "
                    f"Rerun with resume=true."
                )
            time.sleep(poll_s)
        return str(json.loads(path.read_text())["decision"])


class StoppedWithPeerError(StudyError):
    """Another task of this run stopped (cancelled, killed, out of time); recorded as
    `interrupted`, which `resume=true` continues."""


# What the process group's backends say when the other end of a collective is gone.
_PEER_GONE = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "connection refused",
    "nccl communicator was aborted",
)


def is_lost_peer(error: BaseException) -> bool:
    """Whether an error (or one it was raised from) says another process of the group left."""
    import torch.distributed

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, torch.distributed.DistError):
            return True
        if isinstance(current, RuntimeError | OSError) and any(
            text in str(current).lower() for text in _PEER_GONE
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def lost_peer_message(tasks: SlurmTasks) -> str:
    """What rank 0 records when another rank of the run is gone."""
    return (
        f"another of this run's {tasks.world_size} SLURM tasks (job {tasks.job_id}) stopped: "
        f"cancelled, killed or out of time. Rerun the same command with resume=true to "
        f"continue from the last checkpoint"
    )


def layout_problem(
    trainer: Any, tasks_per_node: int, nodes: int, gpus_per_node: int | None = None
) -> str | None:
    """Why a run of `tasks_per_node` x `nodes` SLURM tasks cannot train with this `trainer`
    config, as one paragraph naming the keys; None when it can (or is one task)."""
    if tasks_per_node * nodes <= 1:
        return None
    strategy = trainer.get("strategy")
    target = strategy.get("_target_", "") if hasattr(strategy, "get") else str(strategy)
    if not str(target).endswith("data_parallel_strategy"):
        return (
            f"hydra.launcher.tasks_per_node={tasks_per_node} and hydra.launcher.nodes={nodes} "
            f"make each run {tasks_per_node * nodes} SLURM tasks, but trainer.strategy "
            f"({target or strategy}) is not data-parallel, so every task would train the same "
            f"run. Use trainer=ddp (GPUs) or trainer=ddp_cpu, or tasks_per_node=1 and nodes=1."
        )
    devices, num_nodes = trainer.get("devices"), trainer.get("num_nodes", 1)
    if devices != tasks_per_node:
        return (
            f"hydra.launcher.tasks_per_node={tasks_per_node} starts {tasks_per_node} processes "
            f"per node for each run, one per device, but trainer.devices={devices}. Leave "
            f"trainer.devices unset (with trainer=ddp / ddp_cpu it follows tasks_per_node), or "
            f"make the two equal."
        )
    if num_nodes != nodes:
        return (
            f"hydra.launcher.nodes={nodes} runs each run on {nodes} nodes, but "
            f"trainer.num_nodes={num_nodes}. Leave trainer.num_nodes unset (with trainer=ddp / "
            f"ddp_cpu it follows hydra.launcher.nodes), or make the two equal."
        )
    gpu = trainer.get("accelerator") == "gpu"
    if gpu and gpus_per_node is not None and gpus_per_node < tasks_per_node:
        return (
            f"hydra.launcher.tasks_per_node={tasks_per_node} tasks each drive one GPU, but "
            f"hydra.launcher.gpus_per_node={gpus_per_node}. Ask for "
            f"hydra.launcher.gpus_per_node={tasks_per_node}."
        )
    return None
