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

from bn2d_study.report import main as report_main

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
