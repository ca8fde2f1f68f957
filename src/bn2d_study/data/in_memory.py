"""A data set that keeps all images in memory and serves whole batches by tensor indexing."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class InMemoryDigits(Dataset[tuple[Tensor, Tensor]]):
    """uint8 images (N, H, W) and labels (N,); indexing with a list of indices returns a batch.

    `__getitems__` is torch's hook for fetching a whole batch in one call: a `DataLoader` with a
    `batch_size` hands it the batch's indices (see `batch_loader`).

    Pixels become float32 `pixel / 255`, exactly what torchvision's `ToTensor` gives, then
    optionally `(x - mean) / std`.
    """

    def __init__(
        self, images: Tensor, labels: Tensor, mean: float | None = None, std: float | None = None
    ) -> None:
        self.images = images
        self.labels = labels
        self.mean = mean
        self.std = std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | Sequence[int]) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(index)
        pixels = self.images[idx].unsqueeze(-3).to(torch.float32).div(255)
        if self.mean is not None and self.std is not None:
            pixels = (pixels - self.mean) / self.std
        return pixels, self.labels[idx]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        """A whole batch: (images (B, 1, H, W), labels (B,))."""
        return self[indices]

    def reordered(self, order: Tensor) -> InMemoryDigits:
        """The same images and labels, in `order` (a permutation or a subset of indices)."""
        return InMemoryDigits(self.images[order], self.labels[order], self.mean, self.std)


def whole_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """The collate function of `batch_loader`: `__getitems__` already returns a whole batch."""
    return batch


def batch_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """`DataLoader(dataset, batch_size, shuffle=...)` that fetches each batch with one call.

    The dataset's `__getitems__` returns the batch and `whole_batch` passes it through, instead
    of one `__getitem__` per sample and a collate. Everything else is torch's own: the sampler
    (`RandomSampler` or `SequentialSampler`, which Lightning recognises, replaces for
    distributed training and turns off for `overfit_batches`), the base seed drawn per pass,
    and so the global random stream and the shuffled order.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=whole_batch,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def balanced_order(labels: Tensor, seed: int) -> Tensor:
    """Every index once, ordered so that any prefix holds the classes as equally as possible.

    Each class's indices are shuffled by their own generator seeded with `seed`, then taken in
    turn (one of each class, then the next of each, ...). The global random stream is untouched.
    """
    generator = torch.Generator().manual_seed(seed)
    per_class = [
        members[torch.randperm(len(members), generator=generator)]
        for members in (torch.nonzero(labels == c).flatten() for c in labels.unique().tolist())
    ]
    rounds = max(len(members) for members in per_class)
    interleaved = [
        members[i : i + 1] for i in range(rounds) for members in per_class if i < len(members)
    ]
    return torch.cat(interleaved)
