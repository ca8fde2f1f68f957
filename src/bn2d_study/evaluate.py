"""`python -m bn2d_study.evaluate PATH [OVERRIDES]` (`make eval CKPT=PATH`): test checkpoints on
Test with the settings their runs were trained with.

PATH is a checkpoint, a run folder (its best checkpoint; `last.ckpt` if it has none) or a
sweep folder (every run's best checkpoint). Each checkpoint is evaluated by `train.py
train=false ckpt_path=<checkpoint>` with its run's own command-line overrides (the run
folder's `.hydra/overrides.yaml`) plus OVERRIDES, into its own run folder under `--out`, and
reports the Test loss and accuracy under the names its run logged them (`test/loss`,
`test/acc`). The table printed at the end puts each beside what the run itself logged for the
checkpoint's epoch; `evaluations.csv` in `--out` holds it too.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bn2d_study.config.compose import find_config_dir
from bn2d_study.run_folder.files import (
    CHECKPOINT_DIR,
    METRICS_CSV,
    RESOLVED_CONFIG_NAME,
    RUN_STATUS_FILE,
    read_epoch_metrics,
    read_run_status,
    run_dir_of_checkpoint,
)
from bn2d_study.run_folder.keys import parse_override
from bn2d_study.utils.atomic_write import atomic_write_csv

EVALUATIONS_CSV = "evaluations.csv"
# Overrides of the trained run that an evaluation sets itself.
_OWN_KEYS = re.compile(r"^(train|test|ckpt_path|resume|hydra\..*|hydra/.*)$")


@dataclass
class Evaluation:
    """One checkpoint to evaluate, and where."""

    checkpoint: Path
    run_dir: Path | None
    out_dir: Path


def best_checkpoint(run_dir: Path) -> Path | None:
    """The run's best checkpoint (`best-*.ckpt`, highest score in its name), else `last.ckpt`."""
    folder = run_dir / CHECKPOINT_DIR
    best = sorted(folder.glob("best-*.ckpt"), key=_score_in_name)
    if best:
        return best[-1]
    last = folder / "last.ckpt"
    return last if last.is_file() else None


def _score_in_name(path: Path) -> float:
    found = re.search(r"val_acc(\d+\.\d+)", path.name)
    return float(found.group(1)) if found else float("-inf")


def find_evaluations(path: Path, out: Path) -> list[Evaluation]:
    """What PATH asks to evaluate: one checkpoint, a run's best, or every run's best."""
    path = path.expanduser().absolute()
    if path.is_file():
        run_dir = run_dir_of_checkpoint(path)
        name = run_dir.name if run_dir else path.stem
        return [Evaluation(path, run_dir, out / name)]
    if (path / RESOLVED_CONFIG_NAME).is_file():
        runs = [path]
    else:
        runs = sorted(p.parent for p in path.rglob(RESOLVED_CONFIG_NAME) if out not in p.parents)
    found = []
    for run_dir in runs:
        checkpoint = best_checkpoint(run_dir)
        if checkpoint is not None:
            found.append(Evaluation(checkpoint, run_dir, out / run_dir.name))
    return found


def trained_overrides(run_dir: Path | None) -> list[str]:
    """The command-line overrides the run was trained with, less those an evaluation sets."""
    if run_dir is None:
        return []
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        print(
            f"warning: {run_dir} has no .hydra/overrides.yaml (it was not made by train.py): "
            f"evaluating with the default settings and the overrides given",
            file=sys.stderr,
        )
        return []
    overrides = yaml.safe_load(path.read_text()) or []
    return [o for o in overrides if not _OWN_KEYS.match(parse_override(o)[0])]


def logged_at_epoch(run_dir: Path | None, epoch: int) -> dict[str, float]:
    """What the run logged for `epoch` (its `test/loss` and `test/acc`), if it is recorded."""
    if run_dir is None:
        return {}
    try:
        epochs, _ = read_epoch_metrics(run_dir / METRICS_CSV)
    except (OSError, ValueError, csv.Error):
        return {}
    return epochs.get(epoch, {})


def hydra_quoted(path: Path) -> str:
    """A path as a quoted Hydra override value: run folder names hold `=` and `,`, which
    Hydra's override grammar reads as syntax when unquoted."""
    return "'" + str(path).replace("'", "\\'") + "'"


def evaluate(evaluation: Evaluation, extra: Sequence[str]) -> dict[str, object]:
    """Run `train.py train=false ckpt_path=...` for one checkpoint; its row of the table."""
    train_py = find_config_dir().parent / "train.py"
    command = [
        sys.executable,
        str(train_py),
        *trained_overrides(evaluation.run_dir),
        "train=false",
        f"ckpt_path={hydra_quoted(evaluation.checkpoint)}",
        "print_config=false",
        f"hydra.run.dir={hydra_quoted(evaluation.out_dir)}",
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    status = read_run_status(evaluation.out_dir) or {}
    metrics = status.get("metrics", {})
    saved = status.get("evaluated_checkpoint", {})
    epoch = saved.get("epoch")
    logged = logged_at_epoch(evaluation.run_dir, epoch) if epoch is not None else {}
    row: dict[str, object] = {
        "run": evaluation.run_dir.name if evaluation.run_dir else "",
        "checkpoint": str(evaluation.checkpoint),
        "epoch": epoch if epoch is not None else "",
        "test/loss": metrics.get("test/loss", ""),
        "test/acc": metrics.get("test/acc", ""),
        "logged test/loss": logged.get("test/loss", ""),
        "logged test/acc": logged.get("test/acc", ""),
        "status": status.get("status", f"failed (exit {result.returncode})"),
        "folder": str(evaluation.out_dir),
    }
    if result.returncode != 0:
        lines = [
            line
            for line in (result.stdout + result.stderr).strip().splitlines()
            if line.strip() and "HYDRA_FULL_ERROR" not in line
        ]
        row["error"] = status.get("error") or (lines[-1] if lines else "")
    return row


def _table(rows: Sequence[dict[str, object]]) -> str:
    columns = ["run", "epoch", "test/loss", "test/acc", "logged test/loss", "logged test/acc"]
    columns.append("status")
    lines = [" | ".join(columns)]
    for row in rows:
        lines.append(" | ".join(str(row.get(c, "")) for c in columns))
        if row.get("error"):
            lines.append(f"    {row['error']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: 0 if every evaluation completed, 1 if one did not, 2 if
    there is nothing to evaluate."""
    parser = argparse.ArgumentParser(
        prog="python -m bn2d_study.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", type=Path, help="a checkpoint, a run folder or a sweep folder")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the evaluations' run folders go (default: logs/evals/<time>)",
    )
    parser.add_argument("overrides", nargs="*", help="more overrides for every evaluation")
    args = parser.parse_args(argv)
    out = args.out or find_config_dir().parent / "logs" / "evals" / time.strftime(
        "%Y-%m-%d_%H-%M-%S"
    )
    out = out.expanduser().absolute()
    if not args.path.exists():
        print(f"error: {args.path} does not exist; give a checkpoint, a run or a sweep folder.")
        return 2
    evaluations = find_evaluations(args.path, out)
    if not evaluations:
        print(
            f"error: no checkpoint found under {args.path}: a run folder keeps them in "
            f"{CHECKPOINT_DIR}/ (best-*.ckpt, last.ckpt), unless it ran with "
            f"trainer.enable_checkpointing=false or without callbacks.model_checkpoint.",
            file=sys.stderr,
        )
        return 2
    rows = []
    for evaluation in evaluations:
        print(f"Evaluating {evaluation.checkpoint} into {evaluation.out_dir}", flush=True)
        rows.append(evaluate(evaluation, args.overrides))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out / EVALUATIONS_CSV, rows)
    print(_table(rows))
    print(f"Written: {out / EVALUATIONS_CSV}; each evaluation's {RUN_STATUS_FILE} in its folder.")
    failed = [row for row in rows if row["status"] != "completed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
