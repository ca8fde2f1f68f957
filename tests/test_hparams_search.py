"""`hparams_search=optuna`: a real 3-trial Optuna search on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import finish, launch, tiny_data_overrides


@pytest.mark.slow  # a whole sweep of train.py runs; moved out of make test for its time
def test_a_three_trial_search_maximizes_val_acc(tiny_archive: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    finish(
        launch(
            [
                "-m",
                "hparams_search=optuna",
                "hydra.sweeper.n_trials=3",
                "hydra.sweeper.sampler.n_startup_trials=3",
                "debug=fast",
                f"hydra.sweep.dir={sweep}",
                *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            ],
            tmp_path,
        )
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 3
    trials = []
    for run in runs:
        status = json.loads((run / "run_status.json").read_text())
        assert status["status"] == "completed"
        config = yaml.safe_load((run / "resolved_config.yaml").read_text())
        params = {
            "model.optimizer.lr": config["model"]["optimizer"]["lr"],
            "model.use_batchnorm": config["model"]["use_batchnorm"],
            "data.batch_size": config["data"]["batch_size"],
        }
        assert 1e-4 <= params["model.optimizer.lr"] <= 0.3
        assert params["data.batch_size"] in (16, 32, 64, 128)
        trials.append((status["metrics"]["val/acc"], params))
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best_value = max(value for value, _ in trials)
    assert result["best_value"] == pytest.approx(best_value)
    # The reported parameters are those of a trial that reached the best value (ties allowed).
    best = result["best_params"]
    assert any(
        value == pytest.approx(best_value)
        and params["model.use_batchnorm"] == best["model.use_batchnorm"]
        and params["data.batch_size"] == best["data.batch_size"]
        and params["model.optimizer.lr"] == pytest.approx(best["model.optimizer.lr"])
        for value, params in trials
    )
