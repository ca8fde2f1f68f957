"""ResumableCSVLogger: a second process's logger adds to metrics.csv instead of replacing it."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

from bn2d_study.lightning_ext.csv_logger import ResumableCSVLogger


def test_a_new_logger_keeps_earlier_rows_and_grows_the_header(tmp_path: Path) -> None:
    first = ResumableCSVLogger(tmp_path, name="csv", version="")
    first.log_metrics({"train/loss": 1.5, "epoch": 0}, step=10)
    first.save()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "previous log files will be deleted" warning
        resumed = ResumableCSVLogger(tmp_path, name="csv", version="")
        resumed.log_metrics({"train/loss": 1.2, "epoch": 1}, step=20)
        resumed.save()
    resumed.log_metrics({"best_ckpt/acc": 0.9}, step=21)  # a column the first one never had
    resumed.save()
    with (tmp_path / "csv" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["epoch"], r["train/loss"], r["best_ckpt/acc"]) for r in rows] == [
        ("0", "1.5", ""),
        ("1", "1.2", ""),
        ("", "", "0.9"),
    ]
