"""The opt-in hook dispatch patch (bn2d_study/lightning_ext/hook_dispatch.py,
`trainer_speedups=true`): same behaviour, and a test that fails when a Lightning upgrade
changes what it stands in for, or makes it useless."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import make_classifier, make_tiny_datamodule
from lightning import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call

from bn2d_study.lightning_ext import hook_dispatch

# The exact Lightning 2.6.6 functions the replacements were written against. If an upgrade
# changes one, compare it with its replacement in hook_dispatch.py, adapt the replacement,
# and record the new hash here.
SOURCE_SHA256 = {
    "_call_callback_hooks": "c413fb9a6a9ce1a3",
    "_call_lightning_module_hook": "558a87d04c4680e1",
    "_call_lightning_datamodule_hook": "2c4500edeedd95c0",
    "_call_strategy_hook": "ff429e3ac60d2a80",
    "is_param_in_hook_signature": "6bd4f22c778d7ccc",
}


@pytest.fixture(autouse=True)
def lightning_own_functions_after() -> Iterator[None]:
    yield
    hook_dispatch.uninstall()


def test_the_replaced_lightning_functions_are_the_ones_they_were_written_for() -> None:
    for name, function in hook_dispatch.ORIGINALS.items():
        digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
        assert digest == SOURCE_SHA256[name], (
            f"Lightning's {name} changed, so the opt-in patch src/bn2d_study/lightning_ext/"
            f"hook_dispatch.py may no longer do what Lightning does: run with "
            f"trainer_speedups=false (the default; speed=fast sets it true) until the patch is "
            f"compared with the new function, adapted, and its hash recorded here"
        )


def test_install_replaces_and_uninstall_restores() -> None:
    hook_dispatch.install()
    assert hook_dispatch.installed()
    assert call._call_callback_hooks is hook_dispatch.REPLACEMENTS["_call_callback_hooks"]
    hook_dispatch.uninstall()
    assert not hook_dispatch.installed()
    assert call._call_callback_hooks is hook_dispatch.ORIGINALS["_call_callback_hooks"]


HOOKS = [
    name for name, member in vars(Callback).items() if name.startswith("on_") and callable(member)
]


def _recording(hook: str) -> Any:
    def record(self: Any, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self.calls.append((hook, pl_module._current_fx_name))

    return record


# Overrides every callback hook, recording each call with the module's current hook name.
RecordsEveryHook = type(
    "RecordsEveryHook",
    (Callback,),
    {"__init__": lambda self: setattr(self, "calls", []), **{h: _recording(h) for h in HOOKS}},
)


class CountingProfiler(PassThroughProfiler):
    """Profiles nothing, counting how often Lightning asks it to."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def profile(self, action_name: str) -> Any:
        self.calls += 1
        return super().profile(action_name)


def fit(tmp_path: Path, archive: Path, speedups: bool) -> tuple[list[Any], dict[str, Any], int]:
    """Two epochs of the study's model; the hook calls, final weights, profiler calls."""
    hook_dispatch.install() if speedups else hook_dispatch.uninstall()
    recorder, profiler = RecordsEveryHook(), CountingProfiler()
    seed_everything(4)
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.05), use_batchnorm=True)
    trainer = Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        callbacks=[recorder, ModelCheckpoint(dirpath=tmp_path / f"ckpt-{speedups}")],
        profiler=profiler,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=make_tiny_datamodule(archive, tmp_path / "data"))
    return recorder.calls, model.state_dict(), profiler.calls


def test_speedups_call_the_same_hooks_in_the_same_order_and_train_alike(
    tiny_archive: Path, tmp_path: Path
) -> None:
    calls_off, weights_off, profiled_off = fit(tmp_path, tiny_archive, speedups=False)
    calls_on, weights_on, profiled_on = fit(tmp_path, tiny_archive, speedups=True)
    assert calls_on == calls_off
    assert ("on_train_batch_end", "on_train_batch_end") in calls_on
    assert weights_on.keys() == weights_off.keys()
    for key, value in weights_off.items():
        assert torch.equal(weights_on[key], value), key
    # Useful: far fewer profiler labels and contexts than Lightning's own dispatch makes.
    assert profiled_on < profiled_off / 2


def test_a_real_profiler_gets_every_hook_as_before(tiny_archive: Path, tmp_path: Path) -> None:
    hook_dispatch.install()
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=False, profiler="simple")
    assert not hook_dispatch._profiles_nothing(trainer)  # Lightning's own functions run
    seed_everything(0)
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.05))
    trainer.fit(model, datamodule=make_tiny_datamodule(tiny_archive, tmp_path / "data"))
    actions = trainer.profiler.recorded_durations  # type: ignore[attr-defined]
    assert any(name.startswith("[Callback]") for name in actions)
    assert any(name.startswith("[LightningModule]DigitClassifier.") for name in actions)
    assert any(name.startswith("[Strategy]") for name in actions)


def test_signature_lookups_are_remembered_and_equal_lightnings() -> None:
    original = hook_dispatch.ORIGINALS["is_param_in_hook_signature"]
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.05))
    for fx, param, kwargs in [
        (model.training_step, "batch_idx", {"min_args": 2}),
        (model.validation_step, "dataloader_idx", {}),
        (model.training_step, "dataloader_iter", {"explicit": True}),
    ]:
        expected = original(fx, param, **kwargs)
        assert hook_dispatch._is_param_in_hook_signature(fx, param, **kwargs) == expected
        assert hook_dispatch._is_param_in_hook_signature(fx, param, **kwargs) == expected


def test_fast_hook_name_is_a_plain_attribute() -> None:
    model = make_classifier(optimizer=partial(torch.optim.SGD, lr=0.05))
    model._current_fx_name = "training_step"
    assert vars(model)["_current_fx_name"] == "training_step"
    model.extra = torch.nn.Linear(1, 1)  # other attributes still go through nn.Module
    assert "extra" in dict(model.named_children())
