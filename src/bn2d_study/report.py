"""`python -m bn2d_study.report FOLDER`: the study's figures and a summary table for any runs.

FOLDER is a run folder or a multirun folder (finished or still running). Written into it:
`summary.md`, `summary.csv` (one row per setting), `paired_comparison.csv` (BN on minus off,
paired by seed), `test_accuracy.png`, `train_loss.png` and `weight_paths.png`.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bn2d_study.analysis.figures import curve_figure, weight_paths_figure
from bn2d_study.analysis.published import PUBLISHED_EPOCHS, PUBLISHED_SEED
from bn2d_study.analysis.runs import RunRecord, find_run_dirs, read_run
from bn2d_study.analysis.statistics import SampleSummary
from bn2d_study.analysis.summary import (
    BATCHNORM_KEY,
    CONVERGENCE_EPOCH,
    StudyReport,
    build_report,
)
from bn2d_study.utils.atomic_write import atomic_write, atomic_write_text

SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"
PAIRED_CSV = "paired_comparison.csv"
FIGURES = {"test_accuracy.png", "train_loss.png", "weight_paths.png"}


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _interval(summary: SampleSummary, digits: int = 4) -> str:
    if math.isnan(summary.ci_low):
        return "n/a"
    return f"[{summary.ci_low:.{digits}f}, {summary.ci_high:.{digits}f}]"


def _mean_std(summary: SampleSummary, digits: int = 4) -> str:
    if summary.n == 0:
        return "n/a"
    if math.isnan(summary.std):
        return _number(summary.mean, digits)
    return f"{summary.mean:.{digits}f} ± {summary.std:.{digits}f}"


def _measure_cell(summary: SampleSummary | None, runs: int) -> str:
    """Mean ± std, with the count when fewer runs had a value (e.g. a weight that never moved)."""
    if summary is None:
        return ""
    cell = _mean_std(summary, 3)
    return cell if summary.n == runs else f"{cell} (n={summary.n})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_rows(report: StudyReport) -> list[dict[str, Any]]:
    """One flat row per setting: what `summary.csv` holds."""
    rows = []
    for setting in report.settings:
        row: dict[str, Any] = {report.short_names[k]: v for k, v in setting.values.items()}
        row.update(
            seeds=setting.final_acc.n,
            final_test_acc_mean=setting.final_acc.mean,
            final_test_acc_std=setting.final_acc.std,
            final_test_acc_ci95_low=setting.final_acc.ci_low,
            final_test_acc_ci95_high=setting.final_acc.ci_high,
            best_test_acc=setting.best_acc,
            best_epoch=setting.best_epoch,
            epochs_to_threshold=setting.epochs_to_threshold or "never",
        )
        loss = setting.train_loss_at_convergence_epoch
        row[f"train_loss_epoch{CONVERGENCE_EPOCH}_mean"] = loss.mean
        row[f"train_loss_epoch{CONVERGENCE_EPOCH}_std"] = loss.std
        for name, summary in {**setting.path_measures, **setting.landscape}.items():
            row[f"{name}_mean"] = summary.mean
            row[f"{name}_std"] = summary.std
            row[f"{name}_n"] = summary.n
        rows.append(row)
    return rows


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render_markdown(report: StudyReport, folder: Path, published: bool) -> str:
    """The whole `summary.md`."""
    threshold = report.threshold
    parts = [f"# Summary of {folder.name}", ""]
    parts.append(
        f"Settings differ by: {', '.join(report.short_names[k] for k in report.keys)}. "
        f"Means are over the completed runs (one per seed); ± is the standard deviation, CI the "
        f"95% t-interval of the mean. Best accuracy, its epoch and the epochs to reach "
        f"{threshold} are read from the seed-mean test-accuracy curve; the best epoch is numbered "
        f"from 0 as in the study's table, epochs to {threshold} counts epochs trained. "
        f"Tortuosity (path length / net displacement, 1 = straight) and the mean turning angle "
        f"(degrees) are of the path of the two sampled weights."
    )
    header = [
        "setting",
        "seeds",
        "final test acc",
        "95% CI",
        "best test acc (epoch)",
        f"epochs to {threshold}",
        f"train loss epoch {CONVERGENCE_EPOCH}",
    ]
    measure_names = sorted({n for s in report.settings for n in (*s.path_measures, *s.landscape)})
    header += measure_names
    rows = []
    for s in report.settings:
        measures = {**s.path_measures, **s.landscape}
        rows.append(
            [
                s.label,
                s.final_acc.n,
                _mean_std(s.final_acc),
                _interval(s.final_acc),
                f"{_number(s.best_acc)} ({s.best_epoch})" if s.best_epoch is not None else "n/a",
                s.epochs_to_threshold or "never",
                _mean_std(s.train_loss_at_convergence_epoch),
            ]
            + [_measure_cell(measures.get(n), s.final_acc.n) for n in measure_names]
        )
    parts += ["", "## Settings", "", markdown_table(header, rows), ""]

    parts += ["## BatchNorm on minus off (final test accuracy, paired by seed)", ""]
    if report.comparisons:
        comparison_rows = [
            [
                label,
                len(c.seeds),
                _number(c.difference.mean),
                _interval(c.difference),
                f"{c.wins} of {len(c.seeds)}",
            ]
            for label, c in report.comparisons
        ]
        parts.append(
            markdown_table(
                ["other keys", "pairs", "mean difference", "95% CI", "BN won"], comparison_rows
            )
        )
    else:
        parts.append("No setting has completed runs with BN both on and off.")
    parts.append("")

    if published:
        parts += _published_section(report)

    parts += ["## Runs", ""]
    run_rows = [
        [
            run.path.name,
            run.seed if run.seed is not None else "",
            run.status,
            _number(float(run.curve("test/acc")[-1])) if len(run.curve("test/acc")) else "n/a",
            run.note,
        ]
        for run in report.runs
    ]
    parts.append(markdown_table(["run", "seed", "status", "last test acc", "note"], run_rows))
    left_out = [run for run in report.runs if not run.usable]
    if left_out:
        parts += [
            "",
            f"{len(left_out)} run(s) are left out of the means and comparisons: only completed "
            f"runs with finite losses count.",
        ]
    return "\n".join(parts) + "\n"


def _published_section(report: StudyReport) -> list[str]:
    """The study's table beside the runs with its seed (the first of each BN flag)."""
    reproduced: dict[bool, RunRecord] = {}
    for run in report.runs:
        flag = bool(run.config.get(BATCHNORM_KEY))
        if run.seed == PUBLISHED_SEED and run.config.get("data.batch_size") == 32:
            reproduced.setdefault(flag, run)
    rows = []
    for epoch, (off_loss, off_acc, on_loss, on_acc) in PUBLISHED_EPOCHS.items():
        row: list[Any] = [epoch]
        for flag, loss, acc in ((False, off_loss, off_acc), (True, on_loss, on_acc)):
            run = reproduced.get(flag)
            metrics = run.epochs.get(epoch, {}) if run is not None else {}
            row += [
                _number(loss, 6),
                _number(metrics.get("train/loss"), 6),
                _number(acc, 6),
                _number(metrics.get("test/acc"), 6),
            ]
        rows.append(row)
    header = ["epoch"] + [
        f"{model} {what}"
        for model in ("no-BN", "BN")
        for what in ("loss published", "loss here", "acc published", "acc here")
    ]
    return [
        f"## Published vs reproduced (seed {PUBLISHED_SEED}, batch 32)",
        "",
        "The published BN model started from a later state of the random generator, so the BN "
        "columns are a fresh start and differ by design; the no-BN columns should agree.",
        "",
        markdown_table(header, rows),
        "",
    ]


def _save_figure(fig: Figure, path: Path) -> None:
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))


def write_report(folder: Path, threshold: float = 0.95, published: bool = False) -> StudyReport:
    """Read every run under `folder` and write the summary files and figures into it."""
    folder = Path(folder)
    runs = [read_run(path) for path in find_run_dirs(folder)]
    if not runs:
        raise FileNotFoundError(
            f"No run folders under {folder}: a run folder holds resolved_config.yaml, written "
            f"when `python train.py` starts. Point the report at a run or multirun folder."
        )
    report = build_report(runs, threshold)
    atomic_write_text(folder / SUMMARY_MD, render_markdown(report, folder, published))
    atomic_write_text(folder / SUMMARY_CSV, _csv_text(summary_rows(report)))
    paired = [
        {
            "other_keys": label,
            "pairs": len(c.seeds),
            "seeds": " ".join(str(s) for s in c.seeds),
            "mean_difference": c.difference.mean,
            "ci95_low": c.difference.ci_low,
            "ci95_high": c.difference.ci_high,
            "bn_wins": c.wins,
        }
        for label, c in report.comparisons
    ]
    atomic_write_text(folder / PAIRED_CSV, _csv_text(paired))
    _save_figure(
        curve_figure(report.settings, "test/acc", "test accuracy"), folder / "test_accuracy.png"
    )
    _save_figure(
        curve_figure(report.settings, "train/loss", "train loss"), folder / "train_loss.png"
    )
    _save_figure(weight_paths_figure(report.settings), folder / "weight_paths.png")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bn2d_study.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("folder", type=Path, help="a run folder or a multirun folder")
    parser.add_argument(
        "--threshold", type=float, default=0.95, help="test accuracy for 'epochs to threshold'"
    )
    parser.add_argument(
        "--published", action="store_true", help="add the study's published table beside the runs"
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(
            f"error: {args.folder} is not a folder; give a run or multirun folder.", file=sys.stderr
        )
        return 2
    if not 0 < args.threshold <= 1:
        print(f"error: --threshold={args.threshold} must be in (0, 1].", file=sys.stderr)
        return 2
    try:
        write_report(args.folder, args.threshold, args.published)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((args.folder / SUMMARY_MD).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
