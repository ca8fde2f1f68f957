"""The lean epoch metrics against torchmetrics' own `MeanMetric` and `MulticlassAccuracy`."""

from __future__ import annotations

import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from bn2d_study.models.metrics import Accuracy, BatchMean, SplitMetrics


def lean() -> dict[str, BatchMean | Accuracy]:
    """The lean collection, as configs/model/metrics/lean.yaml configures it."""
    return {"loss": BatchMean(), "acc": Accuracy()}


def random_batches(count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(loss, logits, targets) batches of uneven sizes, like an epoch with a short last batch."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for index in range(count):
        size = 7 if index == count - 1 else 32
        logits = torch.randn(size, 10, generator=generator)
        targets = torch.randint(0, 10, (size,), generator=generator)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        batches.append((loss, logits, targets))
    return batches


def test_values_equal_torchmetrics_over_epochs_with_resets() -> None:
    ours = SplitMetrics(lean())
    mean, accuracy = MeanMetric(), MulticlassAccuracy(10, average="micro")
    for epoch in range(2):
        for loss, logits, targets in random_batches(20, seed=epoch):
            ours.update(loss, logits, targets)
            mean.update(loss)
            accuracy.update(logits, targets)
        # As torchmetrics' update wrapper would have it: counted, nothing cached.
        assert ours["loss"].update_count == ours["acc"].update_count == mean.update_count == 20
        assert torch.equal(ours["loss"].compute(), mean.compute())
        assert torch.equal(ours["acc"].compute(), accuracy.compute())
        assert 0.0 < float(ours["acc"].compute()) < 1.0
        for metric in (ours["loss"], ours["acc"], mean, accuracy):
            metric.reset()
    assert int(ours["acc"].seen) == 0 and int(ours["loss"].batches) == 0


def test_loss_is_the_plain_mean_of_batches_not_of_samples() -> None:
    metric = BatchMean()
    metric.update(torch.tensor(1.0))  # a batch of 32
    metric.update(torch.tensor(4.0))  # a short last batch
    assert float(metric.compute()) == 2.5


def test_states_merge_as_distributed_sums() -> None:
    """What a DDP sync does: each process's sums added, then computed once."""
    batches = random_batches(10, seed=3)
    whole, first, second = Accuracy(), Accuracy(), Accuracy()
    for index, (_, logits, targets) in enumerate(batches):
        whole.update(logits, targets)
        (first if index % 2 else second).update(logits, targets)
    first.merge_state(second)
    assert torch.equal(first.compute(), whole.compute())


def test_update_does_not_keep_the_graph() -> None:
    logits = torch.randn(4, 10, requires_grad=True)
    metric = BatchMean()
    metric.update(logits.sum())
    assert not metric.total.requires_grad
    split = SplitMetrics(lean())
    split.update(logits.sum(), logits, torch.zeros(4, dtype=torch.long))
    assert not split["loss"].total.requires_grad and not split["acc"].correct.requires_grad


def test_a_cached_result_is_dropped_by_the_next_update() -> None:
    split = SplitMetrics(lean())
    for loss, logits, targets in random_batches(2, seed=5)[:1]:
        split.update(loss, logits, targets)
    first = split["loss"].compute()  # torchmetrics caches this until the next update
    loss, logits, targets = random_batches(2, seed=6)[1]
    split.update(loss * 3, logits, targets)
    assert not torch.equal(split["loss"].compute(), first)


def test_a_torchmetrics_collection_gives_the_lean_numbers() -> None:
    """`model/metrics=torchmetrics`: the same collection API through torchmetrics' `update`."""
    lean_split = SplitMetrics(lean())
    reference = SplitMetrics(
        {"loss": MeanMetric(nan_strategy="disable"), "acc": MulticlassAccuracy(10, average="micro")}
    )
    for loss, logits, targets in random_batches(12, seed=8):
        lean_split.update(loss, logits, targets)
        reference.update(loss, logits, targets)
    assert lean_split.update_count == reference.update_count == 12
    for name in ("loss", "acc"):
        assert torch.equal(lean_split[name].compute(), reference[name].compute())


def test_the_lean_fast_path_writes_what_torchmetrics_update_records() -> None:
    """The lean metrics' `add` (model/metrics=lean, an opt-in patch) writes two of torchmetrics'
    private attributes; an upgrade that renames or reuses them must fail here."""
    import inspect

    from torchmetrics import Metric

    source = inspect.getsource(Metric._wrap_update)
    message = (
        "torchmetrics changed how its update wrapper records an update, so the opt-in lean "
        "metrics (src/bn2d_study/models/metrics.py, LeanMetric._count_update) may be wrong: use "
        "model/metrics=torchmetrics (the default; speed=fast chooses lean) until they are adapted"
    )
    assert "self._update_count += 1" in source, message
    assert "self._computed = None" in source, message
    metric = BatchMean()
    metric.add(torch.tensor(2.0))
    assert metric._update_count == 1 and metric._computed is None, message
