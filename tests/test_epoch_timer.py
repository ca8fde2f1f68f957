"""EpochTimer: per-epoch training seconds that leave validation out, and their running total."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pytest
import torch
from helpers import make_classifier, make_tiny_datamodule, read_metrics, tiny_trainer
from lightning import Callback, LightningModule, Trainer

from bn2d_study.callbacks import EpochTimer

VALIDATION_PAUSE_S = 1.0


class SlowValidation(Callback):
    """Makes every validation pass take at least VALIDATION_PAUSE_S."""

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        time.sleep(VALIDATION_PAUSE_S)


def test_epoch_times_exclude_validation_and_add_up(tiny_archive: Path, tmp_path: Path) -> None:
    dm = make_tiny_datamodule(tiny_archive, tmp_path / "data")
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.01))
    started = time.perf_counter()
    trainer = tiny_trainer(tmp_path, callbacks=[EpochTimer(), SlowValidation()])
    trainer.fit(model, datamodule=dm)
    wall_s = time.perf_counter() - started
    rows = [r for r in read_metrics(tmp_path) if r["time/train_epoch_s"]]
    epochs = [float(r["time/train_epoch_s"]) for r in rows]
    totals = [float(r["time/train_total_s"]) for r in rows]
    assert len(epochs) == 2 and all(e > 0 for e in epochs)
    assert totals == pytest.approx([epochs[0], epochs[0] + epochs[1]])
    # Two validation pauses happened inside the epochs, but are not counted.
    assert totals[-1] < wall_s - 2 * VALIDATION_PAUSE_S
    # ... and are what the evaluation time holds instead.
    evals = [
        float(r["time/eval_epoch_s"]) for r in read_metrics(tmp_path) if r["time/eval_epoch_s"]
    ]
    assert len(evals) == 2 and all(e >= VALIDATION_PAUSE_S for e in evals)
