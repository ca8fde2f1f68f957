"""A data set that keeps all images in memory and serves whole batches by tensor indexing."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


class InMemoryDigits(Dataset[tuple[Tensor, Tensor]]):
    """uint8 images (N, H, W) and labels (N,); indexing with a list of indices returns a batch.

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


def batch_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader that fetches each batch with one indexing call instead of per-sample collate.

    The sampler is torch's own `RandomSampler` (or `SequentialSampler`) wrapped in a
    `BatchSampler`, and the loader draws its base seed as usual, so the global random stream
    and the shuffled order are exactly those of `DataLoader(dataset, batch_size, shuffle=...)`.
    """
    sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=False),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def balanced_subset(labels: Tensor, size: int, seed: int) -> Tensor:
    """`size` indices with the classes as equally represented as possible, drawn with `seed`.

    Each class's indices are shuffled by their own generator, then taken in turn (one of each
    class, then the next of each, ...), so any prefix of the result is balanced too.
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
    return torch.cat(interleaved)[:size]
