"""A checkpoint named by `ckpt_path`: read it, check it fits the configured model, say where it
comes from. Every problem is one paragraph naming the path and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bn2d_study.errors import ConfigError
from bn2d_study.run_folder.files import run_dir_of_checkpoint

# How many mismatching names a message lists before it says "and N more".
_SHOWN = 4


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a checkpoint is and what it holds: the epoch and step it was saved at."""

    path: Path
    epoch: int
    global_step: int

    @property
    def run_dir(self) -> Path | None:
        """The run folder that saved it (`<run>/checkpoints/<name>.ckpt`), if it is one."""
        return run_dir_of_checkpoint(self.path)

    def describe(self) -> dict[str, Any]:
        """For `run_status.json` and the log."""
        return {"path": str(self.path), "epoch": self.epoch, "global_step": self.global_step}


def _fix() -> str:
    return (
        "Give ckpt_path a checkpoint of a run folder (<run>/checkpoints/last.ckpt or its "
        "best-*.ckpt); `make eval CKPT=<checkpoint, run or sweep folder>` evaluates with the "
        "settings the run was trained with."
    )


def read_checkpoint(path: str | Path) -> tuple[CheckpointInfo, dict[str, Any]]:
    """Load a Lightning checkpoint on the CPU: its info and its `state_dict`."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such file. {_fix()}")
    try:
        # What the run folder's own checkpoints hold loads safely: tensors and plain values.
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged or foreign file
        # torch's own explanation follows its first sentence.
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        first_line = first_line.split(". ")[0][:200]
        raise ConfigError(
            f"ckpt_path={path} cannot be read as a checkpoint ({type(error).__name__}: "
            f"{first_line}): the file is damaged or cut short (a full disk, an interrupted "
            f"copy), or it is not a checkpoint of this project. Use another checkpoint of the "
            f"run (last.ckpt, best-*.ckpt) or copy it again. {_fix()}"
        ) from error
    if not isinstance(content, dict) or not isinstance(content.get("state_dict"), dict):
        raise ConfigError(
            f"ckpt_path={path} holds no model weights (no `state_dict`): it is not a Lightning "
            f"checkpoint. {_fix()}"
        )
    info = CheckpointInfo(path, int(content.get("epoch", -1)), int(content.get("global_step", 0)))
    return info, content["state_dict"]


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def check_fits(info: CheckpointInfo, state_dict: dict[str, Any], model: nn.Module) -> None:
    """Raise one paragraph if the checkpoint's weights do not fit `model` exactly."""
    expected = model.state_dict()
    only_saved = sorted(set(state_dict) - set(expected))
    only_model = sorted(set(expected) - set(state_dict))
    reshaped = [
        f"{key} is {list(state_dict[key].shape)} in the checkpoint, {list(value.shape)} here"
        for key, value in expected.items()
        if key in state_dict
        and isinstance(state_dict[key], torch.Tensor)
        and state_dict[key].shape != value.shape
    ]
    if not (only_saved or only_model or reshaped):
        return
    batchnorm_saved = any("running_mean" in key for key in state_dict)
    batchnorm_here = any("running_mean" in key for key in expected)
    if batchnorm_saved != batchnorm_here:
        # Every later layer's index shifts too: the one difference worth naming.
        problems = [
            f"the checkpoint {'has' if batchnorm_saved else 'has no'} BatchNorm layers and "
            f"the configured model {'has' if batchnorm_here else 'has none'}, so it was "
            f"trained with model.use_batchnorm={str(batchnorm_saved).lower()}"
        ]
    else:
        problems = []
        if reshaped:
            problems.append(
                "; ".join(reshaped[:_SHOWN]) + (" ..." if len(reshaped) > _SHOWN else "")
            )
        if only_saved:
            problems.append(f"only in the checkpoint: {_names(only_saved)}")
        if only_model:
            problems.append(f"only in the configured model: {_names(only_model)}")
        problems.append(
            "the network's sizes or layers differ (data.num_classes, data.image_size, "
            "model/net, model.net.*)"
        )
    origin = f" (its run folder: {info.run_dir})" if info.run_dir else ""
    raise ConfigError(
        f"ckpt_path={info.path} was saved by another network than the configured one{origin}: "
        f"{'; '.join(problems)}. Run with the settings it was trained with. {_fix()}"
    )
