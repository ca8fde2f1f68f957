"""A callback of the tests' own, plugged in by config only (docs/adapt.md, recipe 10)."""

from __future__ import annotations

import torch
from lightning import Callback, LightningModule, Trainer


class GradNormLogger(Callback):
    """Log the norm of the gradients after each backward pass, as `train/grad_norm`."""

    def __init__(self, norm_type: float) -> None:
        self.norm_type = norm_type

    def on_after_backward(self, trainer: Trainer, pl_module: LightningModule) -> None:
        grads = [p.grad.detach().flatten() for p in pl_module.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.cat(grads), self.norm_type)
        pl_module.log("train/grad_norm", norm, on_step=False, on_epoch=True)
