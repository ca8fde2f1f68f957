"""The study's per-epoch metrics: one split's collection (`SplitMetrics`), and the lean
torchmetrics `Metric`s it uses by default, mean batch loss and accuracy.

The collection is configured (`model/metrics`): `torchmetrics` (the default: `MeanMetric` and
`MulticlassAccuracy` through their public `update`) or `lean`, which gives the same numbers, bit
for bit (tested, and compared on whole runs by tests/test_lightning_flags.py). The lean ones keep
only the sums, and their per-step `add` updates them in place without torchmetrics' update
wrapper, writing two of torchmetrics' private attributes: an opt-in patch (`speed=fast`), since
on whole runs it gains nothing measurable (docs/performance.md). They sync across processes
like any torchmetrics `Metric`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn
from torchmetrics import Metric

# The entry of a collection that is updated with each batch's loss; every other entry is
# updated with the batch's logits and targets.
LOSS = "loss"


class LeanMetric(Metric):
    """A `Metric` with `add`: the same as `update` for the per-step path, in place and without
    torchmetrics' update wrapper."""

    def add(self, *args: Tensor) -> None:
        """Add one batch, as `update(*args)` would."""
        raise NotImplementedError

    def _count_update(self) -> None:
        """What torchmetrics' `update` wrapper records besides the states: one more update,
        and no cached result. (Written to the instance's dict: nn.Module's setattr checks cost
        more than the update; these two attributes are torchmetrics' private state.)"""
        state = vars(self)
        state["_update_count"] += 1
        state["_computed"] = None


class BatchMean(LeanMetric):
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

    def add(self, value: Tensor) -> None:  # type: ignore[override]
        """`update`, without the wrapper."""
        self.total.add_(value.detach())
        self.batches.add_(1)
        self._count_update()

    def compute(self) -> Tensor:
        """The mean over the batches seen since the last reset."""
        return self.total / self.batches


class Accuracy(LeanMetric):
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

    def add(self, logits: Tensor, targets: Tensor) -> None:  # type: ignore[override]
        """`update`, without the wrapper."""
        self.correct.add_((logits.detach().argmax(dim=1) == targets).sum())
        self.seen.add_(targets.numel())
        self._count_update()

    def compute(self) -> Tensor:
        """Correct predictions over all predictions since the last reset."""
        return self.correct.float() / self.seen.float()


class SplitMetrics(nn.Module):
    """One split's metrics (`train`, `val`, `test`, ...), each logged as `<split>/<name>`.

    Args:
        metrics: name -> a torchmetrics `Metric` (copied, so one configuration serves every
            split). `loss` is updated with each batch's loss, the others with its logits and
            targets.
    """

    def __init__(self, metrics: Mapping[str, Metric]) -> None:
        super().__init__()
        chosen = dict(metrics.items())
        self.metrics = nn.ModuleDict({name: copy.deepcopy(m) for name, m in chosen.items()})
        if not self.metrics:
            raise ValueError("a split needs at least one metric (model.metrics is empty)")
        # Its update count tells the first batch since the last reset.
        self._first_name = next(iter(self.metrics))

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def items(self) -> Iterator[tuple[str, Metric]]:
        """(name, metric) pairs, in the configured order."""
        return iter(self.metrics.items())

    @property
    def update_count(self) -> int:
        """Batches added since the last reset (which Lightning does after each epoch's log)."""
        return self.metrics[self._first_name].update_count

    def update(self, loss: Tensor, logits: Tensor, targets: Tensor) -> None:
        """Add one batch to every metric: `add` for the lean ones, else `update`."""
        for name, metric in self.metrics.items():
            args = (loss,) if name == LOSS else (logits, targets)
            if isinstance(metric, LeanMetric):
                metric.add(*args)
            else:
                metric.update(*args)
