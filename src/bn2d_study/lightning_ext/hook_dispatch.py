"""The one patch of Lightning's private internals: a faster hook dispatch. Opt-in
(`trainer_speedups=true`, part of `speed=fast`), since on whole runs it gains nothing measurable
(docs/performance.md: `make bench`, variant f).

Lightning calls its hooks through three functions of `lightning.pytorch.trainer.call`, about
30 times per training step. Each call formats a log message and a profiler label (for a
checkpoint callback that label is the repr of a dict of its settings), opens the profiler's
context manager and sets `_current_fx_name` on the module; a callback hook is called on
every callback, though most callbacks leave most hooks as Callback's no-ops. On a small CNN
on a CPU this cost several tenths of a millisecond per step (docs/performance.md has the
measurements).

`install()` replaces the three functions with versions that do the same calls in the same
order, but call a callback only if its class overrides the hook (Callback's hooks do
nothing) and skip the label and the context manager when the profiler profiles nothing.
With a real profiler (`trainer.profiler=simple`) Lightning's own functions run. `uninstall()`
puts them back.

The switch is `trainer_speedups` (root config, false by default). `tests/test_hook_dispatch.py`
checks the exact Lightning functions these stand in for, so a Lightning upgrade that changes
them fails that test, whose message says to run with `trainer_speedups=false` until this module
is adapted, instead of silently changing behaviour.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping
from lightning.pytorch.loops import evaluation_loop, prediction_loop, training_epoch_loop
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call
from lightning.pytorch.utilities import signature_utils

# (module, name) of each Lightning function replaced -> the original, to check and restore it.
_PATCHED_MODULES = {
    "_call_callback_hooks": (call,),
    "_call_lightning_module_hook": (call,),
    "_call_lightning_datamodule_hook": (call,),
    "_call_strategy_hook": (call,),
    # The loops look up a step method's signature on every batch.
    "is_param_in_hook_signature": (training_epoch_loop, evaluation_loop, prediction_loop),
}
ORIGINALS: dict[str, Any] = {
    "_call_callback_hooks": call._call_callback_hooks,
    "_call_lightning_module_hook": call._call_lightning_module_hook,
    "_call_lightning_datamodule_hook": call._call_lightning_datamodule_hook,
    "_call_strategy_hook": call._call_strategy_hook,
    "is_param_in_hook_signature": signature_utils.is_param_in_hook_signature,
}
_overrides: dict[tuple[type, str], bool] = {}
_signatures: dict[tuple[Any, ...], bool] = {}


def _overrides_hook(callback: Callback, hook_name: str) -> bool:
    """Whether calling `callback.<hook_name>` can do anything (Callback's own hooks do not)."""
    key = (type(callback), hook_name)
    found = _overrides.get(key)
    if found is None:
        cls = type(callback)
        base = getattr(Callback, hook_name, None)
        dynamic = cls.__getattribute__ is not object.__getattribute__ or hasattr(cls, "__getattr__")
        found = dynamic or base is None or getattr(cls, hook_name, None) is not base
        _overrides[key] = found
    return found or hook_name in vars(callback)


def _profiles_nothing(trainer: Trainer) -> bool:
    return isinstance(trainer.profiler, PassThroughProfiler)


def _call_callback_hooks(
    trainer: Trainer,
    hook_name: str,
    *args: Any,
    monitoring_callbacks: bool | None = None,
    **kwargs: Any,
) -> None:
    """Lightning's `_call_callback_hooks`, calling only callbacks that override the hook."""
    if not _profiles_nothing(trainer):
        ORIGINALS["_call_callback_hooks"](
            trainer, hook_name, *args, monitoring_callbacks=monitoring_callbacks, **kwargs
        )
        return
    pl_module = trainer.lightning_module
    if pl_module:
        prev_fx_name = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name
    for callback in trainer.callbacks:
        if monitoring_callbacks is not None and monitoring_callbacks != isinstance(
            callback, EarlyStopping | Checkpoint
        ):
            continue
        if _overrides_hook(callback, hook_name):
            fn = getattr(callback, hook_name)
            if callable(fn):
                fn(trainer, pl_module, *args, **kwargs)
    if pl_module:
        pl_module._current_fx_name = prev_fx_name


def _call_lightning_module_hook(
    trainer: Trainer,
    hook_name: str,
    *args: Any,
    pl_module: LightningModule | None = None,
    **kwargs: Any,
) -> Any:
    """Lightning's `_call_lightning_module_hook`, without a label when nothing is profiled."""
    if not _profiles_nothing(trainer):
        return ORIGINALS["_call_lightning_module_hook"](
            trainer, hook_name, *args, pl_module=pl_module, **kwargs
        )
    pl_module = pl_module or trainer.lightning_module
    if pl_module is None:
        raise TypeError("No `LightningModule` is available to call hooks on.")
    fn = getattr(pl_module, hook_name)
    if not callable(fn):
        return None
    prev_fx_name = pl_module._current_fx_name
    pl_module._current_fx_name = hook_name
    output = fn(*args, **kwargs)
    pl_module._current_fx_name = prev_fx_name
    return output


def _call_strategy_hook(trainer: Trainer, hook_name: str, *args: Any, **kwargs: Any) -> Any:
    """Lightning's `_call_strategy_hook`, without a label when nothing is profiled."""
    if not _profiles_nothing(trainer):
        return ORIGINALS["_call_strategy_hook"](trainer, hook_name, *args, **kwargs)
    pl_module = trainer.lightning_module
    prev_fx_name = pl_module._current_fx_name
    pl_module._current_fx_name = hook_name
    fn = getattr(trainer.strategy, hook_name)
    if not callable(fn):
        return None
    output = fn(*args, **kwargs)
    pl_module._current_fx_name = prev_fx_name
    return output


def _call_lightning_datamodule_hook(
    trainer: Trainer, hook_name: str, *args: Any, **kwargs: Any
) -> Any:
    """Lightning's `_call_lightning_datamodule_hook`, without a label when nothing is profiled."""
    if not _profiles_nothing(trainer):
        return ORIGINALS["_call_lightning_datamodule_hook"](trainer, hook_name, *args, **kwargs)
    if trainer.datamodule is None:
        raise TypeError("No `LightningDataModule` is available to call hooks on.")
    fn = getattr(trainer.datamodule, hook_name)
    return fn(*args, **kwargs) if callable(fn) else None


def _is_param_in_hook_signature(
    hook_fx: Any, param: str, explicit: bool = False, min_args: int | None = None
) -> bool:
    """Lightning's `is_param_in_hook_signature`, remembered per function (signatures are fixed)."""
    key = (getattr(hook_fx, "__func__", hook_fx), param, explicit, min_args)
    found = _signatures.get(key)
    if found is None:
        found = ORIGINALS["is_param_in_hook_signature"](hook_fx, param, explicit, min_args)
        _signatures[key] = found
    return found


REPLACEMENTS: dict[str, Any] = {
    "_call_callback_hooks": _call_callback_hooks,
    "_call_lightning_module_hook": _call_lightning_module_hook,
    "_call_lightning_datamodule_hook": _call_lightning_datamodule_hook,
    "_call_strategy_hook": _call_strategy_hook,
    "is_param_in_hook_signature": _is_param_in_hook_signature,
}


def _set(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        for module in _PATCHED_MODULES[name]:
            setattr(module, name, function)


def install() -> None:
    """Use the fast hook dispatch for every Trainer in this process."""
    _set(REPLACEMENTS)


def uninstall() -> None:
    """Put Lightning's own functions back."""
    _set(ORIGINALS)


def installed() -> bool:
    """Whether `install()` is in effect."""
    return all(
        getattr(module, name) is function
        for name, function in REPLACEMENTS.items()
        for module in _PATCHED_MODULES[name]
    )
