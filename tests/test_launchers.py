"""The bounded-wait submitit launchers (src/hydra_plugins/bn2d_study_launchers/), locally.

The SLURM cases (a cancelled job, with and without accounting) are in tests/test_slurm.py.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from helpers import fail, finish, launch, sweep_on_tiny_data, tiny_data_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

from bn2d_study.cluster.slurm_tasks import layout_problem
from bn2d_study.config.compose import TrainConfigComposer as Compose
from bn2d_study.run_folder.files import read_run_status


def test_the_plugin_launch_ends_by_collecting_each_jobs_result() -> None:
    """The launchers submit through the plugin's `launch` and take over where it would start
    waiting on `Job.results`: an upgrade that changes that must fail here."""
    source = inspect.getsource(BaseSubmititLauncher.launch)
    assert "jobs = executor.map_array(self, *zip(*job_params))" in source
    assert source.rstrip().endswith("return [j.results()[0] for j in jobs]")


@pytest.mark.slow  # a whole sweep of train.py runs; moved out of make test for its time
def test_a_local_submitit_sweep_runs_every_job_and_summarizes(
    tiny_archive: Path, tmp_path: Path
) -> None:
    sweep, output = sweep_on_tiny_data(
        ["hydra/launcher=submitit_local", "hydra.launcher.poll_s=0.5", "debug=fast", "seed=1,2"],
        tiny_archive,
        tmp_path,
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [r.name for r in runs] == ["0_debug=fast,seed=1", "1_debug=fast,seed=2"]
    for run in runs:
        assert json.loads((run / "run_status.json").read_text())["status"] == "completed"
    assert "All 2 runs of" in output


def test_the_plugin_builds_its_executor_as_the_packed_launch_does() -> None:
    """Packed sweeps (runs_per_task > 1) build the submitit executor themselves, as the
    plugin's `launch` does: an upgrade that changes how it does must fail here."""
    source = inspect.getsource(BaseSubmititLauncher.launch)
    assert 'init_params = {"folder": self.params["submitit_folder"]}' in source
    assert 'specific_init_keys = {"max_num_timeout"}' in source
    assert "executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)" in source
    assert 'x if x in baseparams else f"{self._EXECUTOR}_{x}": y' in source


def test_a_task_layout_that_cannot_work_is_refused_before_submission(
    tiny_archive: Path, tmp_path: Path
) -> None:
    """2 SLURM tasks per run drive one device each: trainer.devices=4 cannot be. No cluster is
    needed: nothing reaches SLURM."""
    sweep = tmp_path / "sweep"
    process = launch(
        [
            "-m",
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.tasks_per_node=2",
            "trainer=ddp_cpu",
            "trainer.devices=4",
            "debug=fast",
            f"hydra.sweep.dir={sweep}",
            *tiny_data_overrides(tiny_archive, tmp_path / "data"),
        ],
        tmp_path,
    )
    output = fail(process)
    assert (
        "Nothing was submitted: hydra.launcher.tasks_per_node=2 starts 2 processes per node for "
        "each run, one per device, but trainer.devices=4" in output
    )
    assert not (sweep / ".submitit").exists()


def test_layouts_of_slurm_tasks_and_trainers() -> None:
    """Which trainer configs can run as tasks_per_node x nodes SLURM tasks."""
    ddp = {
        "strategy": {"_target_": "bn2d_study.cluster.ddp_strategy.data_parallel_strategy"},
        "devices": 2,
        "num_nodes": 1,
        "accelerator": "gpu",
    }
    assert layout_problem({"strategy": "auto", "devices": 1}, 1, 1) is None  # one task
    assert layout_problem(ddp, 2, 1, gpus_per_node=2) is None
    assert "is not data-parallel" in layout_problem({"strategy": "auto", "devices": 1}, 2, 1)
    assert "trainer.num_nodes=1" in layout_problem(ddp, 2, 2)
    assert "hydra.launcher.gpus_per_node=1" in layout_problem(ddp, 2, 1, gpus_per_node=1)


@pytest.mark.slow
def test_a_packed_local_sweep_equals_the_sequential_sweep_bit_for_bit(
    tiny_archive: Path, tmp_path: Path
) -> None:
    """runs_per_task=3, runs_at_once=2: 5 runs in 2 tasks, each run in its own process; the
    same folders, statuses, metrics and weight paths as the basic launcher's in-process runs
    (at the same torch_threads: on a CPU the thread count is part of the arithmetic)."""
    common = ["debug=fast", "seed=1,2,3,4,5", "torch_threads=1"]
    common += tiny_data_overrides(tiny_archive, tmp_path / "data")
    packed, sequential = tmp_path / "packed", tmp_path / "sequential"
    output = finish(
        launch(
            [
                "-m",
                "hydra/launcher=submitit_local",
                "hydra.launcher.poll_s=0.5",
                "hydra.launcher.runs_per_task=3",
                "hydra.launcher.runs_at_once=2",
                *common,
                f"hydra.sweep.dir={packed}",
            ],
            tmp_path,
        )
    )
    assert "Packed: 5 runs in 2 tasks of up to 3 runs, 2 at a time" in output
    finish(launch(["-m", *common, f"hydra.sweep.dir={sequential}"], tmp_path))
    runs = sorted(p.name for p in packed.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert runs == sorted(
        p.name for p in sequential.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    assert len(runs) == 5
    pids = set()
    for run in runs:
        mine, theirs = read_run_status(packed / run), read_run_status(sequential / run)
        assert mine["status"] == theirs["status"] == "completed"
        science = {k: v for k, v in mine["metrics"].items() if not k.startswith("time/")}
        assert science == {k: theirs["metrics"][k] for k in science}
        for name in ("sampled_weights.csv",):
            assert (packed / run / name).read_text() == (sequential / run / name).read_text()
        pids.add(mine["execution"]["pid"])
    assert len(pids) == 5  # a process of its own for each run


@pytest.mark.parametrize(
    ("launcher", "threads"),
    [
        # a packed task of 8 cores running 4 runs at a time: 2 threads each
        (["hydra.launcher.runs_per_task=8", "hydra.launcher.runs_at_once=4"], 2),
        # all 8 runs at once (runs_at_once unset): 1 thread each
        (["hydra.launcher.runs_per_task=8"], 1),
        # one run per task: the task's cores
        ([], 8),
    ],
)
def test_each_run_gets_its_share_of_a_submitit_tasks_cores(
    compose_train_config: Compose, tmp_path: Path, launcher: list[str], threads: int
) -> None:
    cfg = compose_train_config(
        ["hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=8", *launcher],
        output_dir=tmp_path,
    )
    assert cfg.torch_threads == threads
