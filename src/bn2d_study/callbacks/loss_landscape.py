"""`LossLandscapeProbe`: how smooth the loss is along the gradient (Santurkar et al., 2018)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor, nn


def _norm(tensors: Sequence[Tensor]) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))


class LossLandscapeProbe(Callback):
    """Every N steps, walk along the current gradient and measure the loss landscape there.

    As in "How Does Batch Normalization Help Optimization?" (Santurkar et al., NeurIPS 2018),
    at each probed step and for each step size eta, the weights are moved to `w - eta * g` (g:
    this step's gradient) and the loss and gradient on the same batch are computed. Logged as
    epoch means:

    - `landscape/loss_range`: max minus min of the loss over eta = 0 and the step sizes
      (loss landscape variation);
    - `landscape/grad_change`: the largest `||grad(w - eta g) - grad(w)||` (gradient
      predictiveness: smaller is more predictive);
    - `landscape/beta_smoothness`: the largest `||grad(w - eta g) - grad(w)|| / ||eta g||`
      (effective beta-smoothness).

    The weights, BN running statistics, gradients and random state are restored exactly
    afterwards, so a probed run trains exactly like an unprobed one. The module must have a
    `criterion(logits, targets)` and take `(images, targets)` batches.

    Args:
        every_n_steps: probe every N optimizer steps (each probe costs one forward and
            backward pass per step size, plus one).
        step_sizes: the distances eta to move along the gradient.
    """

    def __init__(
        self,
        every_n_steps: int,
        step_sizes: Sequence[float],
    ) -> None:
        self.every_n_steps = every_n_steps
        self.step_sizes = [float(eta) for eta in step_sizes]
        self._batch: Any = None

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Keep the batch: the probe evaluates the loss on the batch of its step."""
        self._batch = batch

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """Probe before the weights are updated, when this step's gradient is in `.grad`."""
        if trainer.global_step % self.every_n_steps or self._batch is None:
            return
        measures = self.measure(pl_module, self._batch)
        pl_module.log_dict(
            {f"landscape/{name}": value for name, value in measures.items()},
            on_step=False,
            on_epoch=True,
            batch_size=1,
            sync_dist=True,
        )

    def measure(self, module: LightningModule, batch: Any) -> dict[str, float]:
        """The three measures at the module's current weights along its current `.grad`."""
        params = [p for p in module.parameters() if p.requires_grad and p.grad is not None]
        direction = [p.grad.detach().clone() for p in params]
        saved_params = [p.detach().clone() for p in params]
        saved_buffers = [b.detach().clone() for b in module.buffers()]
        devices = [p.device for p in params if p.device.type == "cuda"][:1]
        direction_norm = _norm(direction)
        losses, grad_changes, betas = [], [], []
        with torch.random.fork_rng(devices=devices):
            try:
                loss_0, grads_0 = self._loss_and_grads(module, batch, params)
                losses.append(loss_0)
                for eta in self.step_sizes:
                    with torch.no_grad():
                        for p, p0, g in zip(params, saved_params, direction, strict=True):
                            p.copy_(p0 - eta * g)
                    loss_eta, grads_eta = self._loss_and_grads(module, batch, params)
                    change = _norm([a - b for a, b in zip(grads_eta, grads_0, strict=True)])
                    losses.append(loss_eta)
                    grad_changes.append(change)
                    distance = eta * direction_norm
                    betas.append(change / distance if distance > 0 else math.nan)
            finally:
                with torch.no_grad():
                    for p, p0 in zip(params, saved_params, strict=True):
                        p.copy_(p0)
                    for b, b0 in zip(module.buffers(), saved_buffers, strict=True):
                        b.copy_(b0)
        return {
            "loss_range": max(losses) - min(losses),
            "grad_change": max(grad_changes),
            "beta_smoothness": max(betas),
        }

    @staticmethod
    def _loss_and_grads(
        module: LightningModule, batch: Any, params: list[nn.Parameter]
    ) -> tuple[float, list[Tensor]]:
        images, targets = batch
        with torch.enable_grad():
            loss = module.criterion(module(images), targets)
            grads = torch.autograd.grad(loss, params)
        return float(loss.detach()), [g.detach() for g in grads]
