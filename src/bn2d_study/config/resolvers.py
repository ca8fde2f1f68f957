"""OmegaConf resolvers used by the configs: collision-free sweep folders and run names."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from bn2d_study.run_folder.keys import describes_the_run, parse_override
from bn2d_study.study import reference

_MAX_NAME_LENGTH = 120


def run_name(overrides: Sequence[str]) -> str:
    """Name a run by its overrides, e.g. `use_batchnorm=false,batch_size=16,seed=1`.

    Keys are shortened to their last part; values are made safe as folder names.
    """
    parts = []
    for override in overrides:
        key, value = parse_override(override)
        if not describes_the_run(key):
            continue
        # Sweeps hand Hydra's parsed values back as Python literals; show what users type.
        value = {"True": "true", "False": "false", "None": "null"}.get(value, value)
        value = re.sub(r"[^\w.,=+-]", "_", value)[:40]
        parts.append(f"{key.rsplit('.', 1)[-1].rsplit('/', 1)[-1]}={value}")
    name = ",".join(parts) or "defaults"
    if len(name) > _MAX_NAME_LENGTH:
        # Folder names stop at 255 bytes; a hash of the whole keeps shortened names distinct.
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[: _MAX_NAME_LENGTH - 9]}-{digest}"
    return name


def unique_id() -> str:
    """A random 6-hex-digit tag, so two sweeps started in the same second never share a folder.

    Registered with caching: all jobs of one sweep see the value of the launching process.
    """
    return secrets.token_hex(3)


def threads_per_job() -> int | None:
    """Each run's share of the CPU cores when the launcher runs several at once, else None.

    Read from the joblib launcher's `n_jobs` (-1 means one run per core), or from a submitit
    task's `cpus_per_task` (all cores if unset) shared by its `runs_at_once` packed runs.
    """
    try:
        launcher = HydraConfig.get().launcher
    except ValueError:  # composed outside a Hydra run
        return None
    cores = os.cpu_count() or 1
    n_jobs = launcher.get("n_jobs")
    if n_jobs:
        return max(1, cores // (cores if n_jobs < 0 else n_jobs))
    packed = launcher.get("runs_per_task") or 1
    at_once = min(launcher.get("runs_at_once") or packed, packed)
    cpus = launcher.get("cpus_per_task")
    if cpus or packed > 1:
        # A submitit task's cores (all of the machine's if unset), shared by its runs at once.
        return max(1, (cpus or cores) // at_once)
    return None


def _launcher_setting(name: str) -> int | None:
    """An integer setting of the sweep's launcher (hydra.launcher.<name>), if it has one."""
    try:
        launcher = HydraConfig.get().launcher
    except ValueError:  # composed outside a Hydra run
        return None
    value = launcher.get(name)
    return int(value) if isinstance(value, int) else None


def slurm_tasks_per_node(default: int) -> int:
    """Devices per node for a data-parallel run: the SLURM launcher's `tasks_per_node` when it
    runs each run as several tasks (one per device, on `nodes` nodes), else `default`
    (processes the run spawns)."""
    tasks = _launcher_setting("tasks_per_node") or 1
    return tasks if tasks * slurm_nodes() > 1 else default


def slurm_nodes() -> int:
    """Nodes per run: the SLURM launcher's `nodes`; 1 with any other launcher."""
    return _launcher_setting("nodes") or 1


def sweep_name() -> str | None:
    """The multirun's folder name (e.g. `2026-11-27_17-55-30_f78ba2`); None for a single run.

    Used as the wandb group, so the runs of one sweep are grouped together.
    """
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return None
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return Path(hydra_cfg.sweep.dir).name


def register_resolvers() -> None:
    """Register the resolvers of the configs above (idempotent)."""
    resolvers = {
        "sweep_name": sweep_name,
        "threads_per_job": threads_per_job,
        "run_name": run_name,
        "slurm_tasks_per_node": slurm_tasks_per_node,
        "slurm_nodes": slurm_nodes,
        "study": reference,
        "unique_id": unique_id,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            # unique_id: one id per config, however often it is read
            OmegaConf.register_new_resolver(name, resolver, use_cache=name == "unique_id")
