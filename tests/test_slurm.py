"""Sweeps through a real SLURM cluster (scripts/slurm-local.sh up): each run is a SLURM job.

`make test-slurm` runs the `slurm` tests on a cluster with accounting (sacct works, as on most
clusters), then restarts it without accounting for the `slurm_no_accounting` test, then as two
nodes (each in a network namespace of its own) for the `slurm_two_nodes` test.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import finish, launch, make_dhcd_zip, read_metrics, tiny_data_overrides
from helpers.slurm_cluster import cluster_is_up, require_cluster

from bn2d_study.run_folder.files import read_run_status

# Every wait is bounded: without accounting, submitit sees a job that SLURM killed as running
# forever (../shared/docs/slurm-on-one-machine.md), so the sweep would never return.
SWEEP_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 train and 10 test images per digit: a run of 4 epochs at batch 4 takes 20 seconds."""
    return make_dhcd_zip(tmp_path_factory.mktemp("small") / "dhcd-small.zip", 100, 10)


def slurm_sweep(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run a sweep through SLURM, bounded: cancel its jobs and fail if it outlives the bound."""
    process = launch(args, cwd)
    try:
        output, _ = process.communicate(timeout=SWEEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        subprocess.run(["scancel", "--name=train"], check=False)
        pytest.fail(f"the SLURM sweep did not finish in {SWEEP_TIMEOUT_S} s:\n{output[-3000:]}")
    return process.returncode, output


@pytest.mark.slurm
def test_multirun_runs_each_job_as_a_slurm_job(tiny_archive: Path, tmp_path: Path) -> None:
    require_cluster(with_accounting=True)
    sweep = tmp_path / "sweep"
    code, output = slurm_sweep(
        [
            "-m",
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=5",
            "debug=fast",
            "model.use_batchnorm=true,false",
            f"hydra.sweep.dir={sweep}",
            *tiny_data_overrides(tiny_archive, tmp_path / "data"),
        ],
        tmp_path,
    )
    assert code == 0, output[-4000:]

    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [r.name for r in runs] == [
        "0_debug=fast,use_batchnorm=true",
        "1_debug=fast,use_batchnorm=false",
    ]
    job_ids = set()
    for run in runs:
        status = json.loads((run / "run_status.json").read_text())
        assert status["status"] == "completed"
        assert status["metrics"]["test/acc"] is not None
        execution = status["execution"]
        assert execution["slurm_job_id"] is not None
        job_ids.add(execution["slurm_job_id"])
        # submitit keeps each job's files under <sweep>/.submitit/<array job>_<task>
        array_job = f"{execution['slurm_array_job_id']}_{execution['slurm_array_task_id']}"
        assert (sweep / ".submitit" / array_job).is_dir()
        assert (run / "csv" / "metrics.csv").is_file()
    assert len(job_ids) == 2  # two SLURM jobs, one per run


def cancel_second_run_then_resume(
    archive: Path, tmp_path: Path, launcher_args: list[str]
) -> tuple[float, str]:
    """Sweep two runs through SLURM, scancel the second mid-run; check the sweep and a resume.

    Returns the seconds from the cancel to the sweep's return, and the sweep's output.
    """
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
        "hydra.launcher.poll_s=2",
        *launcher_args,
        "seed=1,2",
        "trainer.max_epochs=4",
        "data.batch_size=4",
        "print_config=false",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
        *tiny_data_overrides(archive, tmp_path / "data", 100, 10),
    ]
    process = launch(args, tmp_path)
    victim = sweep / "1_seed=2,max_epochs=4,batch_size=4"
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while not (victim / "csv" / "metrics.csv").is_file():  # its first epoch is recorded
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    job = json.loads((victim / "run.lock").read_text())["slurm_job_id"]
    subprocess.run(["scancel", job], check=True)
    cancelled_at = time.monotonic()
    output, _ = process.communicate(timeout=SWEEP_TIMEOUT_S)
    returned_after = time.monotonic() - cancelled_at
    assert process.returncode == 1, output[-3000:]
    assert "1 of 2 runs did not finish" in output and "1_seed=2,max_epochs=4,batch_size=4" in output
    first = sweep / "0_seed=1,max_epochs=4,batch_size=4"
    assert read_run_status(first)["status"] == "completed"  # type: ignore[index]
    first_status = (first / "run_status.json").stat().st_mtime_ns

    code, resumed = slurm_sweep([*args, "resume=true"], tmp_path)
    assert code == 0, resumed[-3000:]
    assert "All 2 runs of" in resumed
    assert (first / "run_status.json").stat().st_mtime_ns == first_status  # skipped
    assert read_run_status(victim)["status"] == "completed"  # type: ignore[index]
    epochs = collections.Counter(r["epoch"] for r in read_metrics(victim) if r.get("train/loss"))
    assert epochs == {str(e): 1 for e in range(4)}
    return returned_after, output


@pytest.mark.slurm
def test_a_cancelled_job_ends_the_sweep_soon_and_resume_completes_it(
    small_archive: Path, tmp_path: Path
) -> None:
    require_cluster(with_accounting=True)
    returned_after, output = cancel_second_run_then_resume(small_archive, tmp_path, [])
    assert "scheduler state CANCELLED" in output
    print(f"the sweep returned {returned_after:.1f} s after the scancel")
    assert returned_after < 120


@pytest.mark.slurm_no_accounting
def test_without_accounting_a_cancelled_job_ends_the_sweep_after_lost_after_s(
    small_archive: Path, tmp_path: Path
) -> None:
    require_cluster(with_accounting=False)
    returned_after, output = cancel_second_run_then_resume(
        small_archive, tmp_path, ["hydra.launcher.lost_after_s=15"]
    )
    assert "not in squeue for 15 s and no result" in output
    print(f"the sweep returned {returned_after:.1f} s after the scancel")
    assert returned_after < 120


def run_folders(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))


def science(run: Path) -> dict[str, float]:
    """A run's final metrics, less the wall-clock ones."""
    metrics = read_run_status(run)["metrics"]  # type: ignore[index]
    return {k: v for k, v in metrics.items() if not k.startswith("time/")}


def pids_of_task(job_id: str, rank: int) -> list[int]:
    """The processes SLURM started for one task of a job (its SLURM_PROCID)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = dict(
                item.split("=", 1) for item in environ.read_text().split("\0") if "=" in item
            )
        except OSError:
            continue
        if (
            variables.get("SLURM_JOB_ID") == job_id
            and variables.get("SLURM_PROCID") == str(rank)
            and "SLURM_STEP_ID" in variables
            and variables.get("SLURM_STEP_ID") != "batch"
        ):
            found.append(int(environ.parent.name))
    return found


def ddp_overrides(archive: Path, tmp_path: Path) -> list[str]:
    """A short trainer=ddp_cpu run on a small archive, one thread per process on every side
    (on a CPU the thread count changes how a batch's loss is summed, in its last bits)."""
    return [
        "trainer=ddp_cpu",
        "debug=fast",
        "torch_threads=1",
        "print_config=false",
        *tiny_data_overrides(archive, tmp_path / "data"),
    ]


def one_slurm_run(common: list[str], launcher: list[str], sweep: Path) -> Path:
    """A one-run sweep through SLURM with these launcher settings; its run folder."""
    args = ["-m", "hydra/launcher=submitit_slurm", "hydra.launcher.mem_gb=2"]
    args += ["hydra.launcher.poll_s=1", *launcher, *common, f"hydra.sweep.dir={sweep}"]
    code, output = slurm_sweep(args, sweep.parent)
    assert code == 0, output[-4000:]
    (run,) = run_folders(sweep)
    return run


def spawned_run(common: list[str], folder: Path) -> Path:
    """The same run off SLURM, its processes spawned: the reference."""
    finish(launch([*common, f"hydra.run.dir={folder}"], folder.parent))
    return folder


def assert_same_results(run: Path, *others: Path) -> None:
    for other in others:
        assert science(run) == science(other)
        assert (run / "sampled_weights.csv").read_text() == (
            other / "sampled_weights.csv"
        ).read_text()


@pytest.mark.slurm
def test_ddp_as_two_slurm_tasks_equals_the_spawned_run(tiny_archive: Path, tmp_path: Path) -> None:
    """trainer=ddp_cpu with tasks_per_node=2: 2 SLURM tasks, ranks from SLURM; with one task
    of 2 CPUs: spawned inside it (this failed with EADDRINUSE before); off SLURM: spawned. The
    same numbers, one run folder, logs from rank 0 only."""
    require_cluster(with_accounting=True)
    common = ddp_overrides(tiny_archive, tmp_path)
    tasks = ["hydra.launcher.tasks_per_node=2", "hydra.launcher.cpus_per_task=1"]
    run = one_slurm_run(common, tasks, tmp_path / "tasks")
    single = ["hydra.launcher.tasks_per_node=1", "hydra.launcher.cpus_per_task=2"]
    single_run = one_slurm_run(common, single, tmp_path / "single")
    spawned = spawned_run(common, tmp_path / "spawned")

    status = read_run_status(run)
    assert status is not None and status["status"] == "completed"
    job = status["execution"]["slurm_job_id"]
    # Both tasks of the job ran it; rank 0 decided, and only rank 0 wrote into the folder.
    logs = sorted(p.name for p in (tmp_path / "tasks" / ".submitit").rglob("*_log.out"))
    assert any(name.endswith("_0_log.out") for name in logs)
    assert any(name.endswith("_1_log.out") for name in logs)
    decision = json.loads((run / ".ranks" / f"job{job}.restart0.json").read_text())
    assert decision["decision"] == "train"
    train_log = (run / "train.log").read_text()
    assert "[rank: 0]" in train_log and "[rank: 1]" not in train_log
    assert_same_results(run, single_run, spawned)


@pytest.mark.slurm
def test_a_killed_rank_interrupts_the_run_and_resume_completes_it(
    small_archive: Path, tmp_path: Path
) -> None:
    require_cluster(with_accounting=True)
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.tasks_per_node=2",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
        "hydra.launcher.poll_s=1",
        "trainer=ddp_cpu",
        "trainer.max_epochs=5",
        "data.batch_size=4",
        "print_config=false",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
        *tiny_data_overrides(small_archive, tmp_path / "data", 100, 10),
    ]
    process = launch(args, tmp_path)
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while not any(r.get("train/loss") for r in _rows(sweep)):  # epoch 0 is recorded
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    (run,) = run_folders(sweep)
    job = json.loads((run / "run.lock").read_text())["slurm_job_id"]
    (rank_one,) = pids_of_task(job, 1)
    os.kill(rank_one, 9)
    output, _ = process.communicate(timeout=SWEEP_TIMEOUT_S)
    assert process.returncode == 1, output[-3000:]
    assert f"1 of 1 runs did not finish:\n  0_{run.name.split('_', 1)[1]}" in output
    status = read_run_status(run)
    assert status is not None and status["status"] == "interrupted"
    assert "another of this run's 2 SLURM tasks" in status["error"]

    code, resumed = slurm_sweep([*args, "resume=true"], tmp_path)
    assert code == 0, resumed[-3000:]
    assert read_run_status(run)["status"] == "completed"  # type: ignore[index]
    epochs = collections.Counter(r["epoch"] for r in read_metrics(run) if r.get("train/loss"))
    assert epochs == {str(e): 1 for e in range(5)}


def _rows(sweep: Path) -> list[dict[str, str]]:
    runs = run_folders(sweep) if sweep.is_dir() else []
    return [
        row for run in runs if (run / "csv" / "metrics.csv").is_file() for row in read_metrics(run)
    ]


def packed_overrides(archive: Path, tmp_path: Path) -> list[str]:
    """4 short runs (seeds 1-4) of 3 epochs on a small archive, one thread each."""
    return [
        "seed=1,2,3,4",
        "trainer.max_epochs=3",
        "data.batch_size=4",
        "torch_threads=1",
        "print_config=false",
        "trainer.enable_progress_bar=false",
        *tiny_data_overrides(archive, tmp_path / "data", 100, 10),
    ]


def start_packed_sweep(
    common: list[str], sweep: Path
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start a sweep of the runs in one packed task, 2 at a time; once the first run has
    recorded an epoch, return the sweep's process, its SLURM job and its arguments."""
    args = [
        "-m",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.runs_per_task=4",
        "hydra.launcher.runs_at_once=2",
        "hydra.launcher.cpus_per_task=2",
        "hydra.launcher.mem_gb=4",
        "hydra.launcher.poll_s=1",
        *common,
        f"hydra.sweep.dir={sweep}",
    ]
    process = launch(args, sweep.parent)
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while not any(r.get("train/loss") for r in _rows(sweep)):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    job = json.loads((run_folders(sweep)[0] / "run.lock").read_text())["slurm_job_id"]
    return process, job, args


@pytest.mark.slurm
def test_a_packed_task_reports_every_run_and_its_resume_equals_unpacked_runs(
    small_archive: Path, tmp_path: Path
) -> None:
    """4 runs in one task, 2 at a time. scancel while the first two train: all 4 are named
    (2 interrupted, 2 never started); resume=true completes them, with the numbers of the same
    runs launched unpacked (the basic launcher, at the same torch_threads)."""
    require_cluster(with_accounting=True)
    common = packed_overrides(small_archive, tmp_path)
    sweep = tmp_path / "packed"
    process, job, args = start_packed_sweep(common, sweep)
    subprocess.run(["scancel", job], check=True)
    output, _ = process.communicate(timeout=SWEEP_TIMEOUT_S)
    assert process.returncode == 1, output[-3000:]
    assert "4 of 4 runs did not finish" in output
    assert (
        output.count("stopped by SIGTERM (cancelled, preempted or out of time): interrupted") == 2
    )
    assert output.count("not started: its task was stopped by SIGTERM") == 2
    statuses = {run.name: read_run_status(run) for run in run_folders(sweep)}
    assert sorted(s["status"] for s in statuses.values() if s) == ["interrupted", "interrupted"]

    code, resumed = slurm_sweep([*args, "resume=true"], tmp_path)
    assert code == 0, resumed[-3000:]
    unpacked = tmp_path / "unpacked"
    finish(launch(["-m", *common, f"hydra.sweep.dir={unpacked}"], tmp_path))
    runs = run_folders(sweep)
    assert [r.name for r in runs] == [r.name for r in run_folders(unpacked)]
    for run in runs:
        assert read_run_status(run)["status"] == "completed"  # type: ignore[index]
        assert science(run) == science(unpacked / run.name)
        assert (run / "sampled_weights.csv").read_text() == (
            unpacked / run.name / "sampled_weights.csv"
        ).read_text()


def two_nodes_are_up() -> bool:
    if not cluster_is_up():
        return False
    nodes = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True)
    return sorted(set(nodes.stdout.split())) == ["node1", "node2"]


@pytest.mark.slurm_two_nodes
def test_ddp_across_two_nodes_equals_the_spawned_run(tiny_archive: Path, tmp_path: Path) -> None:
    """hydra.launcher.nodes=2: one task on each of two nodes (two network namespaces with their
    own addresses and hostnames), the rendezvous and gradients crossing between them."""
    if not two_nodes_are_up():
        problem = "no two-node cluster: run `SLURM_LOCAL_NODES=2 scripts/slurm-local.sh up`"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI's make test-slurm starts it")
        pytest.skip(problem)
    common = ddp_overrides(tiny_archive, tmp_path)
    nodes = ["hydra.launcher.nodes=2", "hydra.launcher.tasks_per_node=1"]
    run = one_slurm_run(common, [*nodes, "hydra.launcher.cpus_per_task=1"], tmp_path / "sweep")
    spawned = spawned_run(common, tmp_path / "spawned")
    resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
    assert resolved["trainer"]["num_nodes"] == 2 and resolved["trainer"]["devices"] == 1
    hosts = set()
    for log in (tmp_path / "sweep" / ".submitit").rglob("*_log.out"):
        hosts.update(re.findall(r"hostname=(node\d)", log.read_text()))
    assert hosts == {"node1", "node2"}  # one task ran on each node
    assert_same_results(run, spawned)


@pytest.mark.slurm
def test_a_preempted_packed_task_is_requeued_and_resumes_its_unfinished_runs(
    small_archive: Path, tmp_path: Path
) -> None:
    """The time-limit (preemption) signal of submitit, sent while a packed task's first two runs
    train: they stop cleanly, the task is requeued with resume=true, and the requeued task
    completes all four runs, each epoch once."""
    require_cluster(with_accounting=True)
    sweep = tmp_path / "packed"
    process, job, _ = start_packed_sweep(packed_overrides(small_archive, tmp_path), sweep)
    first = run_folders(sweep)[0]
    # What SLURM sends before a time limit or a preemption: USR2, to the task's processes.
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    output, _ = process.communicate(timeout=SWEEP_TIMEOUT_S)
    assert process.returncode == 0, output[-3000:]
    assert "All 4 runs of" in output
    for run in run_folders(sweep):
        assert read_run_status(run)["status"] == "completed"  # type: ignore[index]
        epochs = collections.Counter(r["epoch"] for r in read_metrics(run) if r.get("train/loss"))
        assert epochs == {str(e): 1 for e in range(3)}
    # The first runs were stopped and continued by the requeued task.
    assert "resume=true" in (first / ".hydra" / "overrides.yaml").read_text()
