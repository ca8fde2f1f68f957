"""The study's per-epoch metrics as lean torchmetrics `Metric`s: mean batch loss and accuracy.

torchmetrics' `MeanMetric` and `MulticlassAccuracy` give the same numbers, but their input
checks, casts and per-class bookkeeping cost about 80 us per step together, some 1% of a CPU
step of this small model (measured; see the README's Speed section). These keep only the sums,
updated in place; they sync across processes like any torchmetrics `Metric`.
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


class SplitMetrics(nn.Module):
    """Loss (mean over batches) and accuracy of one split: `train`, `val`, `test`, ..."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = BatchMean()
        self.acc = Accuracy()

    def update(self, loss: Tensor, logits: Tensor, targets: Tensor) -> None:
        """Add one batch."""
        self.loss.update(loss)
        self.acc.update(logits, targets)
