"""docs/adapt.md, followed step by step: each recipe's commands, run for real on tiny data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from helpers import finish, launch, make_class_folders, tiny_data_overrides
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from bn2d_study.config.compose import TrainConfigComposer as Compose
from bn2d_study.errors import ConfigError
from bn2d_study.report import main as report_main
from bn2d_study.training import train

TESTS = Path(__file__).resolve().parent


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def runs_of(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_recipe_1_sweep_a_switch_of_your_own_and_compare_it(
    tiny_archive: Path, tmp_path: Path
) -> None:
    """The example switch, `model.net.dropout`: swept, named, built, compared by the report."""
    sweep = tmp_path / "sweep"
    finish(
        launch(
            [
                "-m",
                "debug=fast",
                "model.net.dropout=0.0,0.3",
                "seed=1,2",
                f"hydra.sweep.dir={sweep}",
                *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            ],
            tmp_path,
        )
    )
    runs = runs_of(sweep)
    assert [r.name.split("_", 1)[1] for r in runs] == [
        "debug=fast,dropout=0.0,seed=1",
        "debug=fast,dropout=0.0,seed=2",
        "debug=fast,dropout=0.3,seed=1",
        "debug=fast,dropout=0.3,seed=2",
    ]
    for run in runs:
        config = OmegaConf.create(yaml.safe_load((run / "resolved_config.yaml").read_text()))
        network = instantiate(config.model.net)(use_batchnorm=True)
        dropouts = [m.p for m in network.modules() if isinstance(m, nn.Dropout)]
        assert dropouts == ([0.3] if "dropout=0.3" in run.name else [])
    assert report_main([str(sweep), "--compare", "model.net.dropout"]) == 0
    (row,) = read_csv(sweep / "paired_comparison.csv")
    assert (row["compare_key"], row["value_a"], row["value_b"], row["pairs"]) == (
        "model.net.dropout",
        "0.0",
        "0.3",
        "2",
    )
    assert "dropout=0.3 minus dropout=0.0" in (sweep / "summary.md").read_text()


def test_recipe_2_plug_in_your_own_network_by_config(tiny_archive: Path, tmp_path: Path) -> None:
    """A network of one's own (tests/helpers/networks.py), chosen with `model/net=small_mlp`
    from a config folder of one's own; `model.use_batchnorm` still switches its BN."""
    extra = tmp_path / "my_configs"
    (extra / "model" / "net").mkdir(parents=True)
    (extra / "model" / "net" / "small_mlp.yaml").write_text(
        "_target_: helpers.networks.small_mlp\n_partial_: true\nhidden: 24\n"
    )
    sweep = tmp_path / "sweep"
    finish(
        launch(
            [
                "-m",
                "debug=fast",
                "model/net=small_mlp",
                "model.use_batchnorm=true,false",
                f"hydra.searchpath=[file://{extra}]",
                # The sampled weights: two entries of the first Linear layer (2-D weight).
                "callbacks.sampled_weights.layer=net.1",
                "callbacks.sampled_weights.indices=[[0,0],[5,100]]",
                f"hydra.sweep.dir={sweep}",
                *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            ],
            tmp_path,
            extra_env={"PYTHONPATH": str(TESTS)},
        )
    )
    runs = runs_of(sweep)
    names = [r.name.split("_", 1)[1] for r in runs]
    assert [n.split(",layer=")[0] for n in names] == [
        "debug=fast,net=small_mlp,use_batchnorm=true",
        "debug=fast,net=small_mlp,use_batchnorm=false",
    ]
    for run in runs:
        state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        assert state["net.1.weight"].shape == (24, 32 * 32)
        has_batchnorm = any(key.endswith("running_mean") for key in state)
        assert has_batchnorm == ("use_batchnorm=true" in run.name)
        assert (run / "sampled_weights.csv").read_text().count("\nepoch,0,") == 1


@pytest.mark.slow
def test_recipe_4_the_report_settings_follow_the_one_rule(
    tiny_archive: Path, tmp_path: Path
) -> None:
    """Keys that only say where or how a run executes never split the report's settings."""
    sweep = tmp_path / "sweep"
    for threads in (1, 2):  # two commands into one sweep folder, differing only in execution
        finish(
            launch(
                [
                    "-m",
                    "debug=fast",
                    f"seed={threads}",
                    f"torch_threads={threads}",
                    "trainer.enable_progress_bar=false",
                    f"hydra.sweep.dir={sweep}",
                    f"hydra.sweep.subdir=run{threads}",
                    *tiny_data_overrides(tiny_archive, tmp_path / f"data{threads}"),
                ],
                tmp_path,
            )
        )
    assert report_main([str(sweep)]) == 0
    (row,) = read_csv(sweep / "summary.csv")  # one setting: use_batchnorm=true, two seeds
    assert row["seeds"] == "2"


@pytest.mark.slow  # a whole sweep of train.py runs; moved out of make test for its time
def test_recipe_3_plug_in_another_image_data_set(tmp_path: Path) -> None:
    """Three letter classes in a folder, 16x16 images, uneven counts: a data config of one's
    own (`data=letters`), and the network follows the data's classes and size."""
    letters = make_class_folders(
        tmp_path / "letters", ("letter_a", "letter_b", "letter_c"), (30, 25, 20), (6, 5, 4)
    )
    extra = tmp_path / "my_configs"
    (extra / "data").mkdir(parents=True)
    (extra / "data" / "letters.yaml").write_text(
        "defaults:\n  - dhcd\n  - _self_\n"
        f"archive: {letters}\n"
        "classes: letter_.*\nnum_classes: 3\nimage_size: 16\n"
        "train_per_class: null\ntest_per_class: null\ncache_name: letters.pt\n"
    )
    run = tmp_path / "run"
    finish(
        launch(
            [
                "debug=fast",
                "data=letters",
                f"hydra.searchpath=[file://{extra}]",
                f"data.data_dir={tmp_path / 'data'}",
                f"hydra.run.dir={run}",
            ],
            tmp_path,
        )
    )
    config = yaml.safe_load((run / "resolved_config.yaml").read_text())
    assert (config["model"]["net"]["num_classes"], config["model"]["net"]["image_size"]) == (3, 16)
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    # [conv, BN, ReLU] x 3, pool, flatten, then the last layer: 3 classes, 16x16 pooled to 8x8
    assert state["net.11.weight"].shape == (3, 16 * 8 * 8)
    cache = torch.load(tmp_path / "data" / "letters.pt", weights_only=True)
    assert cache["classes"] == ["letter_a", "letter_b", "letter_c"]
    assert len(cache["train_labels"]) == 75 and len(cache["test_labels"]) == 15


def own_configs(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """A config folder of one's own beside configs/ (docs/adapt.md): its files, and the
    override that adds it to Hydra's search path."""
    root = tmp_path / "my_configs"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return [f"hydra.searchpath=[file://{root}]"]


def test_recipe_10_add_a_callback_with_one_module_and_one_yaml_entry(
    compose_train_config: Compose, tiny_archive: Path, tmp_path: Path
) -> None:
    """tests/helpers/callbacks.py and one entry under `callbacks`; a wrong key of it is one
    paragraph naming it (its signature checks it)."""
    search = own_configs(
        tmp_path,
        {
            "callbacks/with_grad_norm.yaml": (
                "defaults:\n  - default\n  - _self_\n"
                "grad_norm:\n  _target_: helpers.callbacks.GradNormLogger\n  norm_type: 2.0\n"
            )
        },
    )
    common = [*search, *tiny_data_overrides(tiny_archive, tmp_path / "data"), "debug=fast"]
    run = tmp_path / "run"
    train(compose_train_config([*common, "callbacks=with_grad_norm"], output_dir=run))
    norms = [
        float(r["train/grad_norm"])
        for r in read_csv(run / "csv" / "metrics.csv")
        if r.get("train/grad_norm")
    ]
    assert len(norms) == 1 and norms[0] > 0
    bad = compose_train_config(
        [*common, "callbacks=with_grad_norm", "+callbacks.grad_norm.norm=2"],
        output_dir=tmp_path / "bad",
    )
    with pytest.raises(
        ConfigError, match=r"^callbacks\.grad_norm.*unexpected keyword argument 'norm'"
    ):
        train(bad)


def test_recipe_11_add_a_metric_with_one_entry_logged_for_every_split(
    compose_train_config: Compose, tiny_archive: Path, tmp_path: Path
) -> None:
    """One entry in the metric collection: train/val/test/best_ckpt logs, HParams, the report."""
    run = tmp_path / "run"
    f1 = "+model.metrics.f1"
    train(
        compose_train_config(
            [
                *tiny_data_overrides(tiny_archive, tmp_path / "data"),
                "debug=fast",
                f"{f1}._target_=torchmetrics.classification.MulticlassF1Score",
                f"{f1}.num_classes=10",
                f"{f1}.average=macro",
            ],
            output_dir=run,
        )
    )
    rows = read_csv(run / "csv" / "metrics.csv")
    for split in ("train", "val", "test", "best_ckpt"):
        assert any(r.get(f"{split}/f1") for r in rows), split
    assert any(r.get("hparams/final_test_f1") for r in rows)  # HParams' outcome columns
    assert report_main([str(run)]) == 0
    (row,) = read_csv(run / "summary.csv")
    final = [float(r["test/f1"]) for r in rows if r.get("test/f1")][-1]
    assert float(row["final_test_f1_mean"]) == pytest.approx(final)
    assert "final test f1" in (run / "summary.md").read_text()


def test_recipe_12_plug_in_a_data_module_of_your_own(
    compose_train_config: Compose, tmp_path: Path
) -> None:
    """A LightningDataModule in another format (tensors in memory) with the contract the
    classifier and report rely on: trained, checkpointed, reported."""
    search = own_configs(
        tmp_path,
        {
            "data/noisy_bars.yaml": (
                "_target_: helpers.datamodules.NoisyBars\n"
                "num_classes: 3\nimage_size: 16\nper_class: 12\nbatch_size: 6\n"
            )
        },
    )
    run = tmp_path / "run"
    train(
        compose_train_config(
            [*search, "data=noisy_bars", "trainer.max_epochs=2", "print_config=false"],
            output_dir=run,
        )
    )
    status = yaml.safe_load((run / "run_status.json").read_text())
    assert status["status"] == "completed" and 0 <= status["metrics"]["test/acc"] <= 1
    assert report_main([str(run)]) == 0
    # Without the contract's `val_loader_splits`: one paragraph saying what to add.
    search = own_configs(
        tmp_path / "bare",
        {
            "data/bare.yaml": "_target_: helpers.datamodules.NoisyBarsWithoutSplits\n"
            "num_classes: 3\nimage_size: 16\nper_class: 12\nbatch_size: 6\n"
        },
    )
    with pytest.raises(ConfigError, match="val_loader_splits"):
        train(
            compose_train_config(
                [*search, "data=bare", "trainer.max_epochs=1"], output_dir=tmp_path / "b"
            )
        )
