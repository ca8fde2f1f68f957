"""`python -m bn2d_study.report FOLDER`: the study's figures and a summary table for any runs.

FOLDER is a run folder or a multirun folder (finished or still running). Written into it:
`summary.md`, `summary.csv` (one row per setting), `paired_comparison.csv` (one value of
`--compare KEY` minus the other, paired by seed; BN on minus off by default),
`test_accuracy.png`, `train_loss.png` and `weight_paths.png`; with `--sweep KEY` also
`sweep.csv` and `accuracy_vs_<key>.png`; with the loss-landscape probe, `landscape.png`.
docs/report.md describes every column.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bn2d_study.report.figures import (
    curve_figure,
    landscape_figure,
    sweep_figure,
    weight_paths_figure,
)
from bn2d_study.report.runs import UNREADABLE, RunRecord, find_run_dirs, read_run
from bn2d_study.report.statistics import SampleSummary
from bn2d_study.report.summary import (
    CONVERGENCE_EPOCH,
    PairedRow,
    StudyReport,
    build_report,
    format_value,
)
from bn2d_study.run_folder.files import DIVERGED
from bn2d_study.study import BATCHNORM_KEY, PUBLISHED_EPOCHS, REFERENCE, at_reference
from bn2d_study.utils.atomic_write import atomic_write, atomic_write_csv, atomic_write_text

SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"
PAIRED_CSV = "paired_comparison.csv"
SWEEP_CSV = "sweep.csv"


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
            runs=sum(setting.statuses.values()),
            diverged=setting.statuses.get(DIVERGED, 0),
            final_test_acc_mean=setting.final_acc.mean,
            final_test_acc_std=setting.final_acc.std,
            final_test_acc_ci95_low=setting.final_acc.ci_low,
            final_test_acc_ci95_high=setting.final_acc.ci_high,
            best_test_acc=setting.best_acc,
            best_epoch=setting.best_epoch,
            best_test_acc_per_run_mean=setting.best_acc_per_run.mean,
            best_test_acc_per_run_ci95_low=setting.best_acc_per_run.ci_low,
            best_test_acc_per_run_ci95_high=setting.best_acc_per_run.ci_high,
            epochs_to_threshold=setting.epochs_to_threshold or "never",
        )
        loss = setting.train_loss_at_convergence_epoch
        row[f"train_loss_epoch{CONVERGENCE_EPOCH}_mean"] = loss.mean
        row[f"train_loss_epoch{CONVERGENCE_EPOCH}_std"] = loss.std
        for name, summary in setting.other_test_metrics.items():
            row[f"final_test_{name}_mean"] = summary.mean
            row[f"final_test_{name}_std"] = summary.std
        for name, summary in {**setting.path_measures, **setting.landscape}.items():
            row[f"{name}_mean"] = summary.mean
            row[f"{name}_std"] = summary.std
            row[f"{name}_ci95_low"] = summary.ci_low
            row[f"{name}_ci95_high"] = summary.ci_high
            row[f"{name}_n"] = summary.n
        rows.append(row)
    return rows


def _paired_table(rows: Sequence[PairedRow], with_note: bool = False) -> str:
    won = f"{format_value(rows[0].value_b)} won" if rows else "won"
    header = ["other keys", *(["each at its best"] if with_note else []), "pairs"]
    header += ["mean difference", "95% CI", won]
    return markdown_table(
        header,
        [
            [
                row.label,
                *([row.note] if with_note else []),
                len(row.comparison.seeds),
                _number(row.comparison.difference.mean),
                _interval(row.comparison.difference),
                f"{row.comparison.wins} of {len(row.comparison.seeds)}",
            ]
            for row in rows
        ],
    )


def _sweep_section(report: StudyReport) -> list[str]:
    """Every value of the swept key per group of the other keys, the best, the comparison."""
    assert report.sweep_key is not None
    name = report.short_names[report.sweep_key]
    parts = [f"## {name}: every value, the best of each group", ""]
    parts.append(
        "Final test accuracy, and each run's best test accuracy over its epochs, over the "
        "completed runs of each value (mean ± std, 95% CI). The best value of a group has the "
        "highest mean final accuracy with at least 2 completed runs. Diverged runs are "
        "counted, never averaged in."
    )
    for group in report.sweep_groups:
        parts += ["", f"### {group.label}", ""]
        rows = [
            [
                format_value(v.value) + (" (best)" if v is group.best else ""),
                f"{v.setting.final_acc.n} of {v.runs}",
                v.diverged,
                _mean_std(v.setting.final_acc),
                _interval(v.setting.final_acc),
                _mean_std(v.setting.best_acc_per_run),
                _interval(v.setting.best_acc_per_run),
                v.setting.epochs_to_threshold or "never",
            ]
            for v in group.values
        ]
        header = [name, "completed", "diverged", "final test acc", "95% CI"]
        header += ["best test acc (per run)", "95% CI", f"epochs to {report.threshold}"]
        parts.append(markdown_table(header, rows))
    parts.append("")
    compared = report.short_names[report.compare_key]
    parts += [f"### {compared}, each side at its own best {name}", ""]
    if report.at_best:
        parts.append(_paired_table(report.at_best, with_note=True))
    else:
        parts.append(f"No pair of {compared} values has a best {name} on both sides.")
    parts.append("")
    return parts


def _smoothness_section(report: StudyReport) -> list[str]:
    """Path and landscape measures per setting with their 95% intervals."""
    names = sorted({n for s in report.settings for n in (*s.path_measures, *s.landscape)})
    if not names:
        return []
    rows = []
    for setting in report.settings:
        measures = {**setting.path_measures, **setting.landscape}
        cells = []
        for name in names:
            summary = measures.get(name)
            cells.append(
                f"{_number(summary.mean, 4)} {_interval(summary, 4)} (n={summary.n})"
                if summary is not None and summary.n
                else ""
            )
        rows.append([setting.label, *cells])
    return [
        "## Smoothness measures (mean over runs, 95% CI, runs counted)",
        "",
        "Landscape measures are each run's mean over training of the probe's epoch means; "
        "path measures are of the two sampled weights' path (docs/report.md).",
        "",
        markdown_table(["setting", *names], rows),
        "",
    ]


def unreadable_section(unreadable: Sequence[RunRecord], folder: Path) -> list[str]:
    """The run folders that could not be read, each with what is wrong."""
    if not unreadable:
        return []
    rows = [[_relative(run.path, folder), run.note] for run in unreadable]
    return [
        "",
        f"## Unreadable run folders ({len(unreadable)}, left out of everything above)",
        "",
        markdown_table(["folder", "what is wrong"], rows),
    ]


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder)) or "."
    except ValueError:
        return str(path)


def render_markdown(
    report: StudyReport, folder: Path, published: bool, unreadable: Sequence[RunRecord] = ()
) -> str:
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
        "diverged",
        "final test acc",
        "95% CI",
        "best test acc (epoch)",
        f"epochs to {threshold}",
        f"train loss epoch {CONVERGENCE_EPOCH}",
    ]
    metric_names = sorted({n for s in report.settings for n in s.other_test_metrics})
    header += [f"final test {name}" for name in metric_names]
    measure_names = sorted({n for s in report.settings for n in (*s.path_measures, *s.landscape)})
    header += measure_names
    rows = []
    for s in report.settings:
        measures = {**s.path_measures, **s.landscape}
        rows.append(
            [
                s.label,
                s.final_acc.n,
                s.statuses.get(DIVERGED, 0),
                _mean_std(s.final_acc),
                _interval(s.final_acc),
                f"{_number(s.best_acc)} ({s.best_epoch})" if s.best_epoch is not None else "n/a",
                s.epochs_to_threshold or "never",
                _mean_std(s.train_loss_at_convergence_epoch),
            ]
            + [_measure_cell(s.other_test_metrics.get(n), s.final_acc.n) for n in metric_names]
            + [_measure_cell(measures.get(n), s.final_acc.n) for n in measure_names]
        )
    parts += ["", "## Settings", "", markdown_table(header, rows), ""]

    compared = report.short_names.get(report.compare_key, report.compare_key)
    parts += [f"## {compared}: one value minus the other (final test accuracy, paired by seed)", ""]
    if report.comparisons:
        first = report.comparisons[0]
        parts.append(
            f"{compared}={format_value(first.value_b)} minus {compared}="
            f"{format_value(first.value_a)}, at equal values of the other keys."
        )
        parts += ["", _paired_table(report.comparisons)]
    else:
        parts.append(f"No setting has completed runs with two values of {compared}.")
    parts.append("")

    if report.sweep_key is not None:
        parts += _sweep_section(report)
    parts += _smoothness_section(report)
    if published:
        parts += _published_section(report)

    parts += ["## Runs", ""]
    run_rows = [
        [
            run.path.name,
            run.seed if run.seed is not None else "",
            run.status,
            _number(run.final("test/acc")),
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
    parts += unreadable_section(unreadable, folder)
    return "\n".join(parts) + "\n"


def _published_section(report: StudyReport) -> list[str]:
    """The study's table beside the runs with its seed (the first of each BN flag)."""
    reproduced: dict[bool, RunRecord] = {}
    for run in report.runs:
        flag = bool(run.config.get(BATCHNORM_KEY))
        if at_reference(run.config):
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
        f"## Published vs reproduced (seed {REFERENCE['seed']}, batch "
        f"{REFERENCE['data.batch_size']})",
        "",
        "The published BN model started from a later state of the random generator, so the BN "
        "columns are a fresh start and differ by design; the no-BN columns should agree.",
        "",
        markdown_table(header, rows),
        "",
    ]


def _save_figure(fig: Figure, path: Path) -> None:
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))


def write_report(
    folder: Path,
    threshold: float = 0.95,
    published: bool = False,
    compare: str = BATCHNORM_KEY,
    sweep: str | None = None,
) -> StudyReport:
    """Read every run under `folder` and write the summary files and figures into it."""
    folder = Path(folder)
    found = [read_run(path) for path in find_run_dirs(folder)]
    runs = [run for run in found if run.status != UNREADABLE]
    unreadable = [run for run in found if run.status == UNREADABLE]
    if not found:
        raise FileNotFoundError(
            f"No run folders under {folder}: a run folder holds resolved_config.yaml, written "
            f"when `python train.py` starts. Point the report at a run or multirun folder."
        )
    if not runs:
        listed = "".join(f" {_relative(r.path, folder)}: {r.note}." for r in unreadable)
        raise FileNotFoundError(f"No readable run folder under {folder}.{listed}")
    report = build_report(runs, threshold, compare, sweep)
    report.unreadable = unreadable
    atomic_write_text(folder / SUMMARY_MD, render_markdown(report, folder, published, unreadable))
    atomic_write_csv(folder / SUMMARY_CSV, summary_rows(report))
    paired = [
        {
            "compare_key": report.compare_key,
            "value_a": row.value_a,
            "value_b": row.value_b,
            "other_keys": row.label,
            "at_best": row.note,
            "pairs": len(row.comparison.seeds),
            "seeds": " ".join(str(seed) for seed in row.comparison.seeds),
            "mean_difference": row.comparison.difference.mean,
            "ci95_low": row.comparison.difference.ci_low,
            "ci95_high": row.comparison.difference.ci_high,
            "wins": row.comparison.wins,
        }
        for row in [*report.comparisons, *report.at_best]
    ]
    atomic_write_csv(folder / PAIRED_CSV, paired)
    _save_figure(
        curve_figure(report.settings, "test/acc", "test accuracy"), folder / "test_accuracy.png"
    )
    _save_figure(
        curve_figure(report.settings, "train/loss", "train loss"), folder / "train_loss.png"
    )
    _save_figure(weight_paths_figure(report.settings), folder / "weight_paths.png")
    if any(s.landscape for s in report.settings):
        _save_figure(landscape_figure(report.settings), folder / "landscape.png")
    if report.sweep_key is not None:
        name = report.short_names[report.sweep_key]
        sweep_rows = [
            {
                "group": group.label,
                name: v.value,
                "best": v is group.best,
                "completed": v.setting.final_acc.n,
                "runs": v.runs,
                "diverged": v.diverged,
                "final_test_acc_mean": v.setting.final_acc.mean,
                "final_test_acc_std": v.setting.final_acc.std,
                "final_test_acc_ci95_low": v.setting.final_acc.ci_low,
                "final_test_acc_ci95_high": v.setting.final_acc.ci_high,
                "best_test_acc_per_run_mean": v.setting.best_acc_per_run.mean,
                "best_test_acc_per_run_ci95_low": v.setting.best_acc_per_run.ci_low,
                "best_test_acc_per_run_ci95_high": v.setting.best_acc_per_run.ci_high,
                "epochs_to_threshold": v.setting.epochs_to_threshold or "never",
            }
            for group in report.sweep_groups
            for v in group.values
        ]
        atomic_write_csv(folder / SWEEP_CSV, sweep_rows)
        _save_figure(sweep_figure(report.sweep_groups, name), folder / f"accuracy_vs_{name}.png")
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
    parser.add_argument(
        "--compare",
        default=BATCHNORM_KEY,
        help="a key with two values to compare, paired by seed (default: %(default)s)",
    )
    parser.add_argument(
        "--sweep",
        default=None,
        help="a swept key (e.g. model.optimizer.lr): every value, the best per group, and the "
        "--compare key at each side's best value",
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
        report = write_report(args.folder, args.threshold, args.published, args.compare, args.sweep)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the folder itself cannot be written: a full disk, no permission
        print(f"error: cannot write the report into {args.folder}: {error}", file=sys.stderr)
        return 2
    for option, key in (("--compare", args.compare), ("--sweep", args.sweep)):
        if key is not None and key not in report.keys:
            print(
                f"warning: {option} {key}: no run has that key with more than one value "
                f"(keys that vary: {', '.join(report.keys) or 'none'})",
                file=sys.stderr,
            )
    print((args.folder / SUMMARY_MD).read_text())
    for run in report.unreadable:
        print(f"warning: unreadable run folder {run.path}: {run.note}", file=sys.stderr)
    # 1: written, but some run folder could not be read (listed above and in summary.md).
    return 1 if report.unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
