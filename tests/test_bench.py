"""`python -m bn2d_study.bench` end to end on a tiny archive (the real targets need real data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TINY_TEST_PER_CLASS, TINY_TRAIN_PER_CLASS

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
