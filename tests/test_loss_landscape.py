"""LossLandscapeProbe: measures are logged, and a probed run trains exactly like an unprobed one."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from helpers import make_callback, make_classifier, make_tiny_datamodule, read_metrics, tiny_trainer
from lightning import Callback, LightningModule, seed_everything

from bn2d_study.config.compose import TrainConfigComposer as Compose
from bn2d_study.config.schema import validate_config
from bn2d_study.errors import ConfigError
from bn2d_study.models import DigitClassifier


def train_briefly(
    archive: Path, tmp_path: Path, use_batchnorm: bool, *callbacks: Callback
) -> DigitClassifier:
    dm = make_tiny_datamodule(archive, tmp_path / "data", batch_size=16)
    seed_everything(11)
    model = make_classifier(
        optimizer=partial(torch.optim.SGD, lr=0.05), use_batchnorm=use_batchnorm
    )
    trainer = tiny_trainer(tmp_path, callbacks=callbacks, deterministic=True)
    trainer.fit(model, datamodule=dm)
    return model


@pytest.mark.parametrize("use_batchnorm", [True, False])
def test_probed_training_is_identical_to_unprobed(
    tiny_archive: Path, tmp_path: Path, use_batchnorm: bool
) -> None:
    plain = train_briefly(tiny_archive, tmp_path / "plain", use_batchnorm)
    probe = make_callback("loss_landscape", every_n_steps=2, step_sizes=[0.1, 0.5])
    probed = train_briefly(tiny_archive, tmp_path / "probed", use_batchnorm, probe)
    plain_state, probed_state = plain.state_dict(), probed.state_dict()
    assert plain_state.keys() == probed_state.keys()
    for name, tensor in plain_state.items():
        # Bitwise: weights, and BN running mean/var and num_batches_tracked.
        assert torch.equal(tensor, probed_state[name]), name

    rows = [r for r in read_metrics(tmp_path / "probed") if r.get("landscape/loss_range")]
    assert len(rows) == 2  # one epoch mean per epoch
    for row in rows:
        assert float(row["landscape/loss_range"]) > 0
        assert float(row["landscape/grad_change"]) > 0
        assert float(row["landscape/beta_smoothness"]) > 0


def test_measures_follow_their_definitions_on_a_quadratic(tmp_path: Path) -> None:
    # Loss 0.5 * a * w^2 with one weight: gradient a*w; along -eta*g the gradient changes by
    # a*eta*|g|, so beta-smoothness is exactly a and the gradient change is a*max(eta)*|g|.
    class HalfCurvatureSquare(torch.nn.Module):
        def forward(self, output: torch.Tensor, targets: object) -> torch.Tensor:
            return 0.5 * 3.0 * (output**2).sum()

    class Quadratic(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([2.0]))
            self.criterion = HalfCurvatureSquare()

        def forward(self, images: object) -> torch.Tensor:
            return self.w

    module = Quadratic()
    module.w.grad = torch.tensor([3.0 * 2.0])
    measures = make_callback("loss_landscape", step_sizes=[0.1, 0.2]).measure(module, (None, None))
    assert measures["beta_smoothness"] == pytest.approx(3.0)
    assert measures["grad_change"] == pytest.approx(3.0 * 0.2 * 6.0)
    # w - eta * g = 2, 1.4, 0.8: losses 6.0, 2.94, 0.96
    assert measures["loss_range"] == pytest.approx(6.0 - 0.96)
    assert module.w.item() == 2.0


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("callbacks.loss_landscape.every_n_steps=0", "callbacks.loss_landscape.every_n_steps"),
        ("callbacks.loss_landscape.step_sizes=[]", "callbacks.loss_landscape.step_sizes"),
    ],
)
def test_bad_settings_name_the_key_before_anything_is_built(
    compose_train_config: Compose, tmp_path: Path, override: str, key: str
) -> None:
    cfg = compose_train_config(["callbacks=landscape", override], output_dir=tmp_path)
    with pytest.raises(ConfigError, match=rf"^{key}="):
        validate_config(cfg)
