"""`python -m benchmarks.bench` end to end on a tiny archive (the real targets need real data)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import (
    PROJECT_ROOT,
    TINY_SPEC,
    TINY_TEST_PER_CLASS,
    TINY_TRAIN_PER_CLASS,
    cache_name,
    tiny_data_overrides,
)

from benchmarks.bench import (
    EpochClock,
    StepTimer,
    VariantResult,
    bare_lightning_steps,
    main,
    project_run,
    ratio,
)
from bn2d_study.data.dhcd import DHCD_URL
from bn2d_study.data.source import prepare_images

TINY_ARGS = ["--train-per-class", str(TINY_TRAIN_PER_CLASS)]
TINY_ARGS += ["--test-per-class", str(TINY_TEST_PER_CLASS)]


@pytest.mark.slow
def test_bench_runs_every_variant_and_writes_its_tables(
    tiny_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bench.md"
    code = main(
        [
            "--archive",
            str(tiny_archive),
            "--data-dir",
            str(tmp_path / "data"),
            *TINY_ARGS,
            "--epochs",
            "1",
            "--warmup",
            "1",
            "--rounds",
            "2",
            "--startup-repeats",
            "1",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    table = output.read_text()
    assert table in capsys.readouterr().out
    rows = re.findall(
        r"^\| \(([a-e])\) .* \| (on|off) \| ([0-9.]+) \| ([0-9., ]+) \| ([0-9.]+|-) \|$",
        table,
        re.M,
    )
    assert sorted((v, bn) for v, bn, *_ in rows) == sorted(
        (v, bn) for v in "abcde" for bn in ("on", "off")
    )
    for variant, _, whole, rounds, end_of_run in rows:
        assert float(whole) > 0 and len(rounds.split(",")) == 2
        # Only this project's runs have work after their last epoch (the plot).
        assert (end_of_run == "-") == (variant in "ab")
    ratios = re.findall(r"BN (on|off): ([a-e])/([a-e]) = ([0-9.]+)", table)
    assert {(f, r) for _, f, r, _ in ratios} == {("c", "a"), ("c", "b"), ("d", "a"), ("e", "c")}
    assert len(re.findall(r"run-to-run spread of \(c\)", table)) == 2
    steps = re.findall(
        r"^\| (\([bc]\)|Lightning's loop alone)[^|]* \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) "
        r"\| ([0-9.]+) \|",
        table,
        re.M,
    )
    assert [name for name, *_ in steps] == ["(b)", "(b)", "(c)", "Lightning's loop alone"]
    for _, total, forward, backward, optimizer in steps:
        assert 0 < float(forward) + float(backward) + float(optimizer) < float(total)
    assert re.search(r"framework overhead: [+-][0-9.]+ ms per step", table)
    assert re.search(r"of which Lightning's loop alone: [+-][0-9.]+ ms per step", table)
    for name in ("train.py --help", "a config error", "start to first step"):
        assert re.search(rf"\| {re.escape(name)}[^|]* \| [0-9.]+ \|", table), name


def test_step_timer_counts_whole_steps_after_the_first_epoch(
    tiny_archive: Path, tmp_path: Path
) -> None:
    overrides = [
        "trainer.max_epochs=3",
        "data.batch_size=16",  # 120 train images at val_fraction 0.1: 7 batches an epoch
        "trainer=cpu",
        "print_config=false",
        "test=false",
        *tiny_data_overrides(tiny_archive, tmp_path / "data"),
    ]
    timer = project_run(overrides, tmp_path / "run", "benchmarks.bench.StepTimer")
    assert isinstance(timer, StepTimer)
    # A step runs from one batch start to the next: 6 whole steps in each of epochs 1 and 2.
    assert timer.times.steps == 12
    parts = timer.times.forward + timer.times.backward + timer.times.optimizer
    assert 0 < parts < timer.times.total


def test_bare_lightning_loop_is_timed_like_the_project(tiny_archive: Path, tmp_path: Path) -> None:
    splits = prepare_images(tmp_path / "data", tiny_archive, DHCD_URL, TINY_SPEC, cache_name())
    times = bare_lightning_steps(splits, torch.device("cpu"), epochs=3)
    # 120 train images in batches of 32: 4 batches, 3 whole steps in each of epochs 1 and 2.
    assert times.steps == 6
    assert 0 < times.forward + times.backward + times.optimizer < times.total


def test_epoch_clock_ends_the_last_epoch_before_the_end_of_run_work(
    tiny_archive: Path, tmp_path: Path
) -> None:
    overrides = [
        "trainer.max_epochs=2",
        "trainer=cpu",
        "print_config=false",
        "test=false",
        *tiny_data_overrides(tiny_archive, tmp_path / "data"),
    ]
    clock = project_run(overrides, tmp_path / "run", "benchmarks.bench.EpochClock")
    assert isinstance(clock, EpochClock)
    assert len(clock.epoch_s()) == 2 and min(clock.epoch_s()) > 0
    # After the last epoch: the descent-path plot, drawn once per run.
    assert (tmp_path / "run" / "sampled_weights.png").is_file()
    assert clock.end_of_run_s() > 0


def test_ratio_is_the_median_of_the_rounds_ratios() -> None:
    """A round spoiled by a slow spell (the second) does not decide the ratio."""
    ours = VariantResult("c", False, [[1.0, 1.0], [2.0, 2.2], [1.0, 1.1]])
    plain = VariantResult("a", False, [[0.9, 0.9], [0.9, 0.9], [0.9, 0.9]])
    value, by_round = ratio(ours, plain)
    assert by_round == pytest.approx([0.9, 0.9 / 2.1, 0.9 / 1.05])
    assert value == pytest.approx(0.9 / 1.05)
    assert ours.epoch_s == pytest.approx(1.05)


@pytest.mark.slow
def test_gpu_check_script_runs_end_to_end_in_its_cpu_smoke_form(
    tiny_archive: Path, tmp_path: Path
) -> None:
    """`scripts/gpu-check.sh`: device info, bench, one timed run, the timed 20-run sweep, report."""
    out = tmp_path / "gpu-check"
    env = {
        **os.environ,
        "DHCD_ARCHIVE": str(tiny_archive),
        "DEVICE": "cpu",
        "PYTHON": sys.executable,
        "EXTRA": f"debug=fast data.train_per_class={TINY_TRAIN_PER_CLASS} "
        f"data.test_per_class={TINY_TEST_PER_CLASS}",
        "BENCH_ARGS": " ".join(
            ["--variants cd --epochs 1 --warmup 0 --rounds 1 --startup-repeats 0", *TINY_ARGS]
        ),
        "PACK_SIZES": "1 2",
        "PACK_EPOCHS": "1",
    }
    result = subprocess.run(
        ["bash", "scripts/gpu-check.sh", str(out), "2"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "torch" in (out / "device.txt").read_text()
    assert re.search(
        r"\| \(c\) this project, default config \| on \| [0-9.]+", (out / "bench.md").read_text()
    )
    timings = (out / "timings.txt").read_text()
    assert re.search(r"one study run \(experiment=paper, BN on\): [0-9.]+ s wall", timings)
    assert re.search(r"20 runs \(10 seeds x BN on/off, 2 at a time\): [0-9.]+ s wall", timings)
    runs = sorted(p for p in (out / "sweep").iterdir() if p.is_dir())
    assert len(runs) == 20
    for run in [out / "single", *runs]:
        assert json.loads((run / "run_status.json").read_text())["status"] == "completed"
    assert (out / "sweep" / "summary.md").is_file()
    for k in (1, 2):
        assert re.search(
            rf"packed: {k} runs of 1 epochs in one task on one device: [0-9.]+ s wall, "
            rf"[0-9]+ runs per GPU-hour",
            timings,
        )
        assert len([p for p in (out / f"packed_{k}").iterdir() if p.is_dir()]) == k + 1  # .submitit
