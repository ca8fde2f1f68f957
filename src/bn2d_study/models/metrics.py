"""The study's per-epoch metrics as lean torchmetrics `Metric`s: mean batch loss and accuracy.

torchmetrics' `MeanMetric` and `MulticlassAccuracy` give the same numbers, but their input
checks, casts and per-class bookkeeping cost more per step than these, which keep only the
sums, updated in place (docs/performance.md). They sync across processes like any torchmetrics
`Metric`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric


class BatchMean(Metric):
    """Plain mean of per-batch values (each batch counts once, as the study averaged losses)."""

    full_state_update = False
    is_differentiable = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros(()), dist_reduce_fx="sum")
        self.add_state("batches", torch.zeros(()), dist_reduce_fx="sum")

    def update(self, value: Tensor) -> None:
        """Add one batch's value (a scalar tensor)."""
        # In place: assigning a state attribute goes through nn.Module.__setattr__ (slow).
        self.total.add_(value.detach())
        self.batches.add_(1)

    def compute(self) -> Tensor:
        """The mean over the batches seen since the last reset."""
        return self.total / self.batches


class Accuracy(Metric):
    """Fraction of samples whose highest logit is the target class."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("seen", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: Tensor, targets: Tensor) -> None:
        """Add one batch of logits (B, classes) and integer targets (B,)."""
        self.correct.add_((logits.detach().argmax(dim=1) == targets).sum())
        self.seen.add_(targets.numel())

    def compute(self) -> Tensor:
        """Correct predictions over all predictions since the last reset."""
        return self.correct.float() / self.seen.float()


def _count_update(metric: Metric) -> None:
    """What torchmetrics' `update` wrapper records besides the states: one more update, and
    no cached result. (Written to the instance's dict: nn.Module's setattr checks cost more
    than the update.)"""
    state = vars(metric)
    state["_update_count"] += 1
    state["_computed"] = None


class SplitMetrics(nn.Module):
    """Loss (mean over batches) and accuracy of one split: `train`, `val`, `test`, ..."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = BatchMean()
        self.acc = Accuracy()

    def update(self, loss: Tensor, logits: Tensor, targets: Tensor) -> None:
        """Add one batch: the same as `loss.update(loss)` and `acc.update(logits, targets)`.

        This runs every step, so it adds to the states directly instead of going through
        torchmetrics' update wrapper (grad mode, device check), which about doubled its cost
        (docs/performance.md).
        """
        loss_metric, acc_metric = self.loss, self.acc
        loss_metric.total.add_(loss.detach())
        loss_metric.batches.add_(1)
        acc_metric.correct.add_((logits.detach().argmax(dim=1) == targets).sum())
        acc_metric.seen.add_(targets.numel())
        _count_update(loss_metric)
        _count_update(acc_metric)
