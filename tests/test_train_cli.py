"""`train.py` end to end in a subprocess: debug=fast multiruns on a tiny archive, config errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers import (
    finish,
    launch,
    make_classifier,
    make_tiny_datamodule,
    read_metrics,
    sweep_on_tiny_data,
    tiny_data_overrides,
)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2


def test_fast_multirun_of_bn_on_and_off(tiny_archive: Path, tmp_path: Path) -> None:
    common = [
        "-m",
        "debug=fast",
        "model.use_batchnorm=true,false",
        f"paths.log_dir={tmp_path / 'logs'}",
        *tiny_data_overrides(tiny_archive, tmp_path / "data"),
    ]
    # Two sweeps started together must not share a folder, even within the same second.
    first, second = launch(common, tmp_path), launch(common, tmp_path)
    finish(first), finish(second)
    sweeps = sorted((tmp_path / "logs" / "multiruns").iterdir())
    assert len(sweeps) == 2
    for sweep in sweeps:
        runs = sorted(p for p in sweep.iterdir() if p.is_dir())
        assert [r.name for r in runs] == [
            "0_debug=fast,use_batchnorm=true",
            "1_debug=fast,use_batchnorm=false",
        ]
        for run, use_batchnorm in zip(runs, (True, False), strict=True):
            resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
            assert resolved["model"]["use_batchnorm"] is use_batchnorm
            assert resolved["paths"]["output_dir"] == str(run)
            checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
            assert "last.ckpt" in checkpoints
            assert any(name.startswith("best-epoch000-val_acc") for name in checkpoints)
            assert (run / "sampled_weights.csv").is_file()
            assert (run / "sampled_weights.png").is_file()
            rows = read_metrics(run)
            keys = {k for row in rows for k, v in row.items() if v}
            assert {
                "train/loss",
                "train/acc",
                "val/loss",
                "val/acc",
                "test/loss",
                "test/acc",
                "best_ckpt/acc",
                "best_ckpt/loss",
                "sampled_weights/w1",
                "time/train_epoch_s",
            } <= keys
            events = EventAccumulator(str(run))
            events.Reload()
            assert {"train/loss", "val/acc", "test/acc"} <= set(events.Tags()["scalars"])
            check_hparams_and_layout(events, use_batchnorm, rows)
        # `tensorboard --logdir <sweep>`: one run per job, named by its overrides.
        board = EventMultiplexer().AddRunsFromDirectory(str(sweep))
        board.Reload()
        assert sorted(board.Runs()) == [r.name for r in runs]


@pytest.mark.slow  # a whole sweep of train.py runs; moved out of make test for its time
def test_joblib_launcher_runs_jobs_in_parallel_with_their_share_of_the_cores(
    tiny_archive: Path, tmp_path: Path
) -> None:
    sweep, _ = sweep_on_tiny_data(
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "debug=fast", "seed=1,2"],
        tiny_archive,
        tmp_path,
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [r.name for r in runs] == ["0_debug=fast,seed=1", "1_debug=fast,seed=2"]
    share = max(1, (os.cpu_count() or 1) // 2)
    for run in runs:
        resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
        assert resolved["torch_threads"] == share
        assert json.loads((run / "run_status.json").read_text())["status"] == "completed"
    # Two worker processes, not the launching one: each run's log names its own process id.
    pids = {re.search(r"process (\d+)", (run / "train.log").read_text()) for run in runs}
    assert len(pids) == 2


def check_hparams_and_layout(
    events: EventAccumulator, use_batchnorm: bool, rows: list[dict[str, str]]
) -> None:
    """The HPARAMS record (read back with TensorBoard's reader) and the custom-scalars page."""
    plugin = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        plugin["_hparams_/session_start_info"]
    ).session_start_info
    hparams = dict(start.hparams)
    assert hparams["model.use_batchnorm"].string_value == str(use_batchnorm).lower()
    assert hparams["data.batch_size"].number_value == 32
    assert hparams["seed"].number_value == 5842
    assert hparams["model.optimizer.lr"].number_value == pytest.approx(0.001)
    assert hparams["debug"].string_value == "fast"  # a swept config-group choice
    final_test_acc = [float(r["test/acc"]) for r in rows if r.get("test/acc")][-1]
    (logged,) = events.Scalars("hparams/final_test_acc")
    assert logged.value == pytest.approx(final_test_acc)
    best_ckpt = [float(r["best_ckpt/acc"]) for r in rows if r.get("best_ckpt/acc")][-1]
    assert events.Scalars("hparams/best_ckpt_test_acc")[0].value == pytest.approx(best_ckpt)
    assert "hparams/best_val_acc" in events.Tags()["scalars"]

    (config,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    charts = {
        chart.title: list(chart.multiline.tag)
        for category in layout.category
        for chart in category.chart
    }
    assert charts["accuracy: train, val, test"] == ["train/acc", "val/acc", "test/acc"]
    assert charts["sampled weights w1, w2"] == ["sampled_weights/w1", "sampled_weights/w2"]


def test_bad_config_value_is_a_one_paragraph_error(tmp_path: Path) -> None:
    process = launch(["data.batch_size=0", f"paths.log_dir={tmp_path}"], tmp_path)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "data.batch_size=0 is invalid" in output
    assert "Traceback" not in output


def test_missing_archive_without_network_is_one_paragraph_error(tmp_path: Path) -> None:
    process = launch(
        [
            "debug=fast",
            f"paths.log_dir={tmp_path / 'logs'}",
            f"data.data_dir={tmp_path / 'data'}",
            "data.url=http://127.0.0.1:9/dhcd.zip",
        ],
        tmp_path,
    )
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "Could not download the DHCD archive from http://127.0.0.1:9/dhcd.zip" in output
    assert "data.archive" in output and "Traceback" not in output
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["dhcd-digits.pt.lock"]


@pytest.mark.slow
def test_batch_size_by_seed_by_bn_sweep_gives_18_separate_runs(
    tiny_archive: Path, tmp_path: Path
) -> None:
    finish(
        launch(
            [
                "-m",
                "debug=fast",
                "logger=csv",
                "model.use_batchnorm=true,false",
                "data.batch_size=16,32,128",
                "seed=1,2,3",
                f"paths.log_dir={tmp_path / 'logs'}",
                *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            ],
            tmp_path,
        ),
        timeout=900,
    )
    (sweep,) = (tmp_path / "logs" / "multiruns").iterdir()
    runs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(runs) == 18
    settings = set()
    for run in runs:
        resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
        settings.add(
            (resolved["model"]["use_batchnorm"], resolved["data"]["batch_size"], resolved["seed"])
        )
        assert read_metrics(run), run
    assert len(settings) == 18


def wandb_run_records(path: Path) -> list[Any]:
    """The run records of an offline `.wandb` file.

    The file is a LevelDB-style log (a 7-byte header, then 32 KiB blocks of chunks with a
    7-byte header: crc, length, type) of wandb protobuf records; wandb 0.31 ships no Python
    reader for it.
    """
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending, chunks = path.read_bytes(), 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:  # full
            chunks.append(chunk)
        elif kind == 2:  # first
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            chunks.append(pending + chunk)
    runs = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        if record.WhichOneof("record_type") == "run":
            runs.append(record.run)
    return runs


@pytest.mark.slow
def test_wandb_is_offline_and_each_multirun_job_gets_its_own_run(
    tiny_archive: Path, tmp_path: Path
) -> None:
    sweep, output = sweep_on_tiny_data(
        ["debug=fast", "logger=all", "model.use_batchnorm=true,false"], tiny_archive, tmp_path
    )
    assert "wandb sync" in output
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 2
    run_ids = set()
    for run in runs:
        (offline,) = (run / "wandb").glob("offline-run-*")
        run_ids.add(offline.name)
        (record,) = wandb_run_records(next(offline.glob("*.wandb")))
        assert record.run_group == "sweep"  # the multirun's folder name
        assert record.display_name == run.name.split("_", 1)[1]  # the run's overrides
    assert len(run_ids) == 2


@pytest.mark.slow
def test_ddp_multirun_gives_one_folder_per_job_and_metrics_over_all_processes(
    tiny_archive: Path, tmp_path: Path
) -> None:
    sweep, _ = sweep_on_tiny_data(
        # trainer=ddp_cpu: 2 processes (gloo) per run
        ["trainer=ddp_cpu", "debug=fast", "model.use_batchnorm=false", "seed=1,2"],
        tiny_archive,
        tmp_path,
        timeout=600,
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [r.name for r in runs] == [
        "0_trainer=ddp_cpu,debug=fast,use_batchnorm=false,seed=1",
        "1_trainer=ddp_cpu,debug=fast,use_batchnorm=false,seed=2",
    ]
    dm = make_tiny_datamodule(tiny_archive, tmp_path / "data")
    dm.setup()
    for run in runs:
        assert [p.relative_to(run) for p in run.rglob("metrics.csv")] == [Path("csv/metrics.csv")]
        assert not [p for p in run.iterdir() if p.name.startswith("version_")]
        assert json.loads((run / "run_status.json").read_text())["status"] == "completed"
        # Test accuracy logged by the two processes, each on its half of Test, is reduced to
        # the accuracy over all of Test: recompute it here from the final weights.
        checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        model = make_classifier(use_batchnorm=False)
        model.load_state_dict(checkpoint["state_dict"])
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in dm.test_dataloader())
        logged = [float(r["test/acc"]) for r in read_metrics(run) if r.get("test/acc")][-1]
        assert logged == pytest.approx(correct / len(dm.test_set))
