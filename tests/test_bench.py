"""`python -m bn2d_study.bench` end to end on a tiny archive (the real targets need real data)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, TINY_TEST_PER_CLASS, TINY_TRAIN_PER_CLASS

from bn2d_study.bench import BenchResult, main, throughput_ratio


def test_bench_runs_all_variants_and_writes_its_table(
    tiny_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bench.md"
    code = main(
        [
            "--archive",
            str(tiny_archive),
            "--data-dir",
            str(tmp_path / "data"),
            "--train-per-class",
            str(TINY_TRAIN_PER_CLASS),
            "--test-per-class",
            str(TINY_TEST_PER_CLASS),
            "--epochs",
            "2",
            "--warmup",
            "1",
            "--rounds",
            "2",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    table = output.read_text()
    assert table in capsys.readouterr().out
    assert "median of 2 rounds x 2 epochs, each round after 1 warm-up" in table
    rows = [line for line in table.splitlines() if line.startswith("| (")]
    assert len(rows) == 6  # (a), (b), (c) for BN off and on
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        images_per_s, epoch_s, eval_s, peak = (float(c) for c in cells[2:])
        assert images_per_s > 0 and epoch_s > 0 and eval_s > 0 and peak >= 0
        # throughput is the train images over the median epoch
        assert images_per_s == pytest.approx(10 * TINY_TRAIN_PER_CLASS / epoch_s, rel=0.05, abs=1)
    ratios = re.findall(r"BN (on|off): c/(a|b) = ([0-9.]+)", table)
    assert len(ratios) == 4 and all(float(value) > 0 for *_, value in ratios)


def test_ratio_is_the_median_of_the_rounds_ratios() -> None:
    """A round spoiled by a slow spell (the second) does not decide the ratio."""
    eval_s = [[0.1], [0.1], [0.1]]
    ours = BenchResult("c", False, 100, [[1.0, 1.0], [2.0, 2.2], [1.0, 1.1]], eval_s, 0)
    plain = BenchResult("b", False, 100, [[0.9, 0.9], [0.9, 0.9], [0.9, 0.9]], eval_s, 0)
    ratio, by_round = throughput_ratio(ours, plain)
    assert by_round == pytest.approx([0.9, 0.9 / 2.1, 0.9 / 1.05])
    assert ratio == pytest.approx(0.9 / 1.05)
    assert ours.epoch_s == [1.0, 1.0, 2.0, 2.2, 1.0, 1.1]
    assert ours.images_per_s == pytest.approx(100 / 1.05)


@pytest.mark.slow
def test_gpu_check_script_runs_end_to_end_in_its_cpu_smoke_form(
    tiny_archive: Path, tmp_path: Path
) -> None:
    """`scripts/gpu-check.sh`: device info, bench, one timed run, the timed 20-run sweep, report."""
    out = tmp_path / "gpu-check"
    per_class = ["--train-per-class", str(TINY_TRAIN_PER_CLASS)]
    per_class += ["--test-per-class", str(TINY_TEST_PER_CLASS)]
    env = {
        **os.environ,
        "DHCD_ARCHIVE": str(tiny_archive),
        "DEVICE": "cpu",
        "PYTHON": sys.executable,
        "EXTRA": f"debug=fast data.train_per_class={TINY_TRAIN_PER_CLASS} "
        f"data.test_per_class={TINY_TEST_PER_CLASS}",
        "BENCH_ARGS": " ".join(["--variants bc --epochs 1 --warmup 0 --rounds 1", *per_class]),
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
    assert re.search(r"BN on: c/b = [0-9.]+", (out / "bench.md").read_text())
    timings = (out / "timings.txt").read_text()
    assert re.search(r"one study run \(experiment=paper, BN on\): [0-9.]+ s wall", timings)
    assert re.search(r"20 runs \(10 seeds x BN on/off, 2 at a time\): [0-9.]+ s wall", timings)
    runs = sorted(p for p in (out / "sweep").iterdir() if p.is_dir())
    assert len(runs) == 20
    for run in [out / "single", *runs]:
        assert json.loads((run / "run_status.json").read_text())["status"] == "completed"
    assert (out / "sweep" / "summary.md").is_file()
