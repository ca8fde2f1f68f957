"""The report on a real debug=fast multirun, checked against numbers computed from the CSVs."""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import finish, launch, read_metrics, tiny_data_overrides
from PIL import Image

from bn2d_study.config.history import MOVED_TO_NET
from bn2d_study.report import main as report_main

SEEDS = (1, 2, 3)


def final_test_acc(run_dir: Path) -> float:
    """The last epoch's test/acc, read straight from the CSV logger's file."""
    rows = [r for r in read_metrics(run_dir) if r.get("test/acc")]
    return float(rows[-1]["test/acc"])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> Path:
    """A real multirun (BN on/off x 3 seeds, 3 short epochs), one failed and one diverged run."""
    root = tmp_path_factory.mktemp("report")
    sweep_dir = root / "sweep"
    data = tiny_data_overrides(tiny_archive, root / "data")
    short = [
        "debug=fast",
        "trainer.max_epochs=3",
        "callbacks.sampled_weights.every_step=true",
        "callbacks=landscape",
        "callbacks.loss_landscape.every_n_steps=2",
    ]
    finish(
        launch(
            [
                "-m",
                *short,
                *data,
                "model.use_batchnorm=true,false",
                f"seed={','.join(map(str, SEEDS))}",
                f"hydra.sweep.dir={sweep_dir}",
            ],
            root,
        )
    )
    failed = launch(
        [
            *short,
            *data,
            "callbacks.sampled_weights.layer=net.99",
            f"hydra.run.dir={sweep_dir}/failed",
        ],
        root,
    )
    failed.communicate(timeout=300)
    assert failed.returncode == 1
    finish(
        launch(
            [
                *short,
                *data,
                "model.use_batchnorm=false",
                "model.optimizer.lr=1e30",
                f"hydra.run.dir={sweep_dir}/diverged",
            ],
            root,
        )
    )
    return sweep_dir


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_summary_matches_numbers_computed_from_the_metrics_csvs(sweep: Path) -> None:
    assert report_main([str(sweep), "--threshold", "0.5"]) == 0
    runs: dict[str, dict[int, float]] = {flag: {} for flag in ("true", "false")}
    loss_ranges: dict[str, list[float]] = {flag: [] for flag in ("true", "false")}
    for run_dir in sweep.glob("[0-9]*_*"):
        flag = "true" if "use_batchnorm=true" in run_dir.name else "false"
        seed = int(run_dir.name.split("seed=")[1].split(",")[0])
        runs[flag][seed] = final_test_acc(run_dir)
        per_epoch = [
            float(r["landscape/loss_range"])
            for r in read_metrics(run_dir)
            if r.get("landscape/loss_range")
        ]
        assert len(per_epoch) == 3
        loss_ranges[flag].append(statistics.mean(per_epoch))
    assert all(len(by_seed) == len(SEEDS) for by_seed in runs.values())

    by_setting = {(row["use_batchnorm"], row["lr"]): row for row in read_csv(sweep / "summary.csv")}
    # The diverged run (lr 1e30) is a setting of its own, counted but never averaged in; the
    # failed run (a wrong layer name, at the defaults) only counts among BN on's runs.
    assert set(by_setting) == {("True", "0.001"), ("False", "0.001"), ("False", "1e+30")}
    diverged = by_setting["False", "1e+30"]
    assert (diverged["seeds"], diverged["runs"], diverged["diverged"]) == ("0", "1", "1")
    assert by_setting["True", "0.001"]["runs"] == "4"
    rows = {flag: row for (flag, lr), row in by_setting.items() if lr == "0.001"}
    for flag, row in rows.items():
        values = list(runs[flag.lower()].values())
        assert int(row["seeds"]) == len(SEEDS)
        assert float(row["final_test_acc_mean"]) == pytest.approx(statistics.mean(values))
        assert float(row["final_test_acc_std"]) == pytest.approx(statistics.stdev(values))
        half = 4.302653 * statistics.stdev(values) / math.sqrt(3)  # t(0.975, df=2)
        assert float(row["final_test_acc_ci95_low"]) == pytest.approx(
            statistics.mean(values) - half, rel=1e-5, abs=1e-9
        )
        assert float(row["tortuosity_epoch_n"]) >= 0
        assert "tortuosity_step_mean" in row  # step paths were recorded
        assert float(row["loss_range_mean"]) == pytest.approx(
            statistics.mean(loss_ranges[flag.lower()])
        )

    (paired,) = read_csv(sweep / "paired_comparison.csv")
    differences = [runs["true"][s] - runs["false"][s] for s in SEEDS]
    assert float(paired["mean_difference"]) == pytest.approx(statistics.mean(differences))
    assert int(paired["wins"]) == sum(d > 0 for d in differences)
    assert (paired["compare_key"], paired["value_a"], paired["value_b"]) == (
        "model.use_batchnorm",
        "False",
        "True",
    )

    summary = (sweep / "summary.md").read_text()
    assert (
        "| failed | 5842 | failed | n/a | ConfigError: callbacks.sampled_weights.layer" in summary
    )
    assert "| diverged |" in summary and "the train loss is NaN or infinite by epoch 0" in summary
    assert "2 run(s) are left out" in summary
    for name in ("test_accuracy.png", "train_loss.png", "weight_paths.png"):
        with Image.open(sweep / name) as image:
            assert image.size[0] > 300


def write_in_the_old_layout(run_dir: Path) -> None:
    """Rewrite a run's config as runs wrote it before the network moved under model.net, the
    data module learned other class sets and the YAML files stated every argument:
    model.<key>, no data.classes, no model.net.in_channels, fewer callback and Trainer keys."""
    config_path = run_dir / "resolved_config.yaml"
    config = yaml.safe_load(config_path.read_text())
    net = config["model"].pop("net")
    for key in MOVED_TO_NET:
        config["model"][key] = net[key]
    for key in ("classes", "num_classes", "image_size", "cache_name"):
        del config["data"][key]
    # Keys the YAML files began to state later (every argument of the callbacks and Trainer).
    later = {
        "model_checkpoint": ["verbose", "save_on_exception", "save_weights_only",
                             "every_n_train_steps", "train_time_interval", "every_n_epochs",
                             "save_on_train_epoch_end", "enable_version_counter"],
        "tensorboard_layout": ["category", "charts"],
        "progress_bar": ["process_position", "leave"],
    }  # fmt: skip
    for callback, keys in later.items():
        for key in keys:
            del config["callbacks"][callback][key]
    for key in ("enable_autolog_hparams", "model_registry"):
        del config["trainer"][key]
    config_path.write_text(yaml.safe_dump(config))


def test_runs_written_before_a_config_change_stay_in_their_setting(
    sweep: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    old_runs = [run for run in copy.glob("[0-9]*_*") if "seed=1" in run.name.split(",")]
    assert len(old_runs) == 2  # BN on and off
    for run_dir in old_runs:
        write_in_the_old_layout(run_dir)
    assert report_main([str(copy), "--threshold", "0.5"]) == 0
    assert report_main([str(sweep), "--threshold", "0.5"]) == 0
    # The same settings and the same numbers as the report on the untouched runs.
    assert read_csv(copy / "summary.csv") == read_csv(sweep / "summary.csv")
    assert read_csv(copy / "paired_comparison.csv") == read_csv(sweep / "paired_comparison.csv")


def test_report_on_a_single_run_and_on_a_run_still_in_progress(
    sweep: Path, tiny_archive: Path, tmp_path: Path
) -> None:
    single = next(sweep.glob("0_*"))
    assert report_main([str(single)]) == 0
    (row,) = read_csv(single / "summary.csv")
    assert float(row["final_test_acc_mean"]) == pytest.approx(final_test_acc(single))

    running_dir = tmp_path / "running"
    process = launch(
        [
            *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            "trainer.max_epochs=100000",
            f"hydra.run.dir={running_dir}",
        ],
        tmp_path,
    )
    try:
        deadline = time.monotonic() + 240
        while not any(r.get("test/acc") for r in _metrics_or_empty(running_dir)):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        assert report_main([str(running_dir)]) == 0
        summary = (running_dir / "summary.md").read_text()
        assert "| 5842 | running |" in summary
        assert f"still running: host {socket.gethostname()}, pid {process.pid}" in summary
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    # Killed: no outcome was recorded, and the report no longer calls it running.
    assert report_main([str(running_dir)]) == 0
    summary = (running_dir / "summary.md").read_text()
    assert "| 5842 | gone |" in summary
    assert f"no outcome recorded, process gone (its process {process.pid} is gone)" in summary


def _metrics_or_empty(run_dir: Path) -> list[dict[str, str]]:
    try:
        return read_metrics(run_dir)
    except FileNotFoundError:
        return []


def test_command_line_errors_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bn2d_study.report", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "bn2d_study.report", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "No run folders" in result.stderr


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> Path:
    """A real multirun: 3 learning rates (the last diverges) x BN on/off x 2 seeds."""
    root = tmp_path_factory.mktemp("lr-sweep")
    sweep_dir = root / "sweep"
    finish(
        launch(
            [
                "-m",
                "debug=fast",
                "trainer.max_epochs=2",
                "callbacks.divergence.check_every_n_steps=1",
                "model.optimizer.lr=0.01,0.05,1e30",
                "model.use_batchnorm=true,false",
                "seed=1,2",
                f"hydra.sweep.dir={sweep_dir}",
                *tiny_data_overrides(tiny_archive, root / "data"),
            ],
            root,
        )
    )
    return sweep_dir


def run_outcomes(sweep: Path) -> dict[tuple[str, str], list[tuple[str, float | None]]]:
    """(use_batchnorm, lr) -> [(status, final test acc)], read straight from the run folders."""
    outcomes: dict[tuple[str, str], list[tuple[str, float | None]]] = {}
    for run in sweep.glob("[0-9]*_*"):
        status = json.loads((run / "run_status.json").read_text())["status"]
        flag = run.name.split("use_batchnorm=")[1].split(",")[0]
        lr = run.name.split("lr=")[1].split(",")[0]
        accuracy = final_test_acc(run) if status == "completed" else None
        outcomes.setdefault((flag, lr), []).append((status, accuracy))
    return outcomes


def runs_at(sweep: Path, flag: str, lr: str) -> list[Path]:
    """The completed runs of one BN flag and learning rate (as the CSV writes it)."""
    found = []
    for run in sweep.glob("[0-9]*_*"):
        run_lr = float(run.name.split("lr=")[1].split(",")[0])
        status = json.loads((run / "run_status.json").read_text())["status"]
        if f"use_batchnorm={flag}" in run.name and run_lr == float(lr) and status == "completed":
            found.append(run)
    return found


@pytest.mark.slow  # the 12-run lr sweep; moved out of make test for its time
def test_a_swept_key_gets_every_value_the_best_and_diverged_counts(lr_sweep: Path) -> None:
    assert report_main([str(lr_sweep), "--sweep", "model.optimizer.lr"]) == 0
    outcomes = run_outcomes(lr_sweep)
    assert all(status == "diverged" for status, _ in outcomes["false", "1e+30"])
    rows = read_csv(lr_sweep / "sweep.csv")
    assert len(rows) == 6  # 2 groups (BN on, off) x 3 learning rates
    for flag in ("true", "false"):
        group = [r for r in rows if r["group"] == f"use_batchnorm={flag}"]
        means = {}
        for row in group:
            seen = outcomes[flag, format(float(row["lr"]), "g")]  # run names write 1e+30
            finals = [acc for status, acc in seen if status == "completed"]
            assert int(row["runs"]) == len(seen) == 2
            assert int(row["diverged"]) == sum(status == "diverged" for status, _ in seen)
            assert int(row["completed"]) == len(finals)
            if len(finals) >= 2:
                means[row["lr"]] = statistics.mean(finals)
                assert float(row["final_test_acc_mean"]) == pytest.approx(means[row["lr"]])
                bests = [
                    max(float(r["test/acc"]) for r in read_metrics(run) if r.get("test/acc"))
                    for run in runs_at(lr_sweep, flag, row["lr"])
                ]
                assert float(row["best_test_acc_per_run_mean"]) == pytest.approx(
                    statistics.mean(bests)
                )
        (best,) = [r["lr"] for r in group if r["best"] == "True"]
        assert best == max(means, key=means.__getitem__)
    at_best = [r for r in read_csv(lr_sweep / "paired_comparison.csv") if r["at_best"]]
    assert len(at_best) == 1 and "false at lr=" in at_best[0]["at_best"]
    summary = (lr_sweep / "summary.md").read_text()
    assert "## lr: every value, the best of each group" in summary
    assert "each side at its own best lr" in summary and "(best)" in summary
    with Image.open(lr_sweep / "accuracy_vs_lr.png") as image:
        assert image.size[0] > 300


@pytest.mark.slow  # the 12-run lr sweep; moved out of make test for its time
def test_any_two_valued_key_is_compared_paired_by_seed(lr_sweep: Path) -> None:
    # Three learning rates, but at 1e30 nothing completed: 0.05 minus 0.01, per BN setting.
    assert report_main([str(lr_sweep), "--compare", "model.optimizer.lr"]) == 0
    outcomes = run_outcomes(lr_sweep)
    rows = [r for r in read_csv(lr_sweep / "paired_comparison.csv") if not r["at_best"]]
    assert {r["other_keys"] for r in rows} == {"use_batchnorm=false", "use_batchnorm=true"}
    for row in rows:
        flag = row["other_keys"].split("=")[1]
        assert (row["value_a"], row["value_b"]) == ("0.01", "0.05")
        high = [acc for _, acc in outcomes[flag, "0.05"]]
        low = [acc for _, acc in outcomes[flag, "0.01"]]
        # runs sorted by seed within each (the folder glob gives seed 1 before 2)
        difference = statistics.mean(h - lo for h, lo in zip(high, low, strict=True))
        assert float(row["mean_difference"]) == pytest.approx(difference)
    assert "lr=0.05 minus lr=0.01" in (lr_sweep / "summary.md").read_text()


def _damage(run: Path, how: str) -> str:
    """Damage a copied run folder as a disk or a copy can; what the report must say of it."""
    metrics = run / "csv" / "metrics.csv"
    if how == "truncated_metrics":
        text = metrics.read_text()
        metrics.write_text(text[: len(text) // 2])  # cut in the middle of a row
        return "cut short"
    if how == "empty_metrics":
        metrics.write_text("")
        return "holds no test/acc"
    if how == "binary_metrics":
        metrics.write_bytes(b"\x00\xff\xfe" * 50)
        return "unreadable metrics"
    if how == "half_written_status":
        text = (run / "run_status.json").read_text()
        (run / "run_status.json").write_text(text[: len(text) // 3])
        return "run_status.json is not a JSON object"
    if how == "status_not_an_object":
        (run / "run_status.json").write_text("[1, 2]")
        return "run_status.json is not a JSON object"
    if how == "config_not_a_mapping":
        (run / "resolved_config.yaml").write_text("- just\n- a list\n")
        return "not a mapping of keys"
    if how == "half_written_config":
        (run / "resolved_config.yaml").write_text("model:\n  use_batchnorm: [tru")
        return "unreadable resolved_config.yaml"
    if how == "truncated_weights":
        weights = run / "sampled_weights.csv"
        text = weights.read_text()
        weights.write_text(text[: len(text) // 2].rsplit(",", 2)[0])
        return "unreadable metrics"
    if how == "never_started":
        for path in sorted(run.iterdir()):
            if path.name != ".hydra":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return "the run never started"
    raise AssertionError(how)


DAMAGES = (
    "truncated_metrics",
    "empty_metrics",
    "binary_metrics",
    "half_written_status",
    "status_not_an_object",
    "config_not_a_mapping",
    "half_written_config",
    "truncated_weights",
    "never_started",
)


def test_report_lists_damaged_run_folders_and_reports_the_good_ones(
    sweep: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "damaged"
    shutil.copytree(sweep, copy)
    for name in ("summary.md", "summary.csv"):
        (copy / name).unlink(missing_ok=True)
    runs = sorted(copy.glob("[0-9]*_*"))  # BN on and off, seeds 1-3
    damaged, good = runs[: len(runs) - 2], runs[len(runs) - 2 :]
    expected = {}
    for index, how in enumerate(DAMAGES):
        # More damages than runs: each damaged run folder is copied again under another name.
        source = damaged[index % len(damaged)]
        target = copy / f"9{index}_{how}"
        shutil.copytree(source, target)
        expected[target.name] = _damage(target, how)
    for run in damaged:
        shutil.rmtree(run)
    # Stray files and folders of no run beside the runs.
    (copy / "notes.txt").write_text("stray")
    (copy / "plots").mkdir()
    (copy / "plots" / "x.png").write_bytes(b"not a png")
    result = subprocess.run(
        [sys.executable, "-m", "bn2d_study.report", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]  # written, but some run was unreadable
    assert "Traceback" not in output
    summary = (copy / "summary.md").read_text()
    section = summary.split("## Unreadable run folders")[1]
    for name, what in expected.items():
        (line,) = [row for row in section.splitlines() if row.startswith(f"| {name} |")]
        assert what in line, (name, line)
        assert f"unreadable run folder {copy / name}" in result.stderr
    # The good runs are reported as usual: in the settings and the runs table.
    for run in good:
        assert f"| {run.name} |" in summary.split("## Runs")[1].split("## Unreadable")[0]
    rows = list(csv.DictReader((copy / "summary.csv").open()))
    assert sum(int(row["seeds"]) for row in rows) == len(good)
    # Nothing but damaged folders: no report, exit 2, each folder named.
    for run in good:
        shutil.rmtree(run)
    shutil.rmtree(copy / "failed"), shutil.rmtree(copy / "diverged")
    assert report_main([str(copy)]) == 2
