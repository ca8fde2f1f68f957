"""The whole data set on the training device, batches drawn there by index (the fast path)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from bn2d_study.data.in_memory import InMemoryDigits, batch_loader


class _Indices(Dataset[Tensor]):
    """0..n-1; indexing with a list of indices returns them as a tensor."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int | Sequence[int]) -> Tensor:
        return torch.as_tensor(index)

    def __getitems__(self, indices: Sequence[int]) -> Tensor:
        return torch.as_tensor(indices)


class DeviceBatches:
    """Batches of a data set held on `device`, with exactly the order of `batch_loader`.

    The images are converted (and normalized) once and copied to the device once. At the start
    of each pass the epoch's order is drawn by the same `DataLoader` + `BatchSampler` over
    indices that the normal path uses, so the global random stream is consumed identically and
    the batches are the same; the order then goes to the device in one copy, and each batch is
    one indexing call there: no workers, no collate, no host-to-device copy per step.
    """

    def __init__(
        self, dataset: InMemoryDigits, batch_size: int, shuffle: bool, device: torch.device
    ) -> None:
        # The source, as `DataLoader.dataset`. There is no `sampler` attribute: Lightning
        # leaves the object as it is (it replaces only a DataLoader's sampler).
        self.dataset = dataset
        images, labels = dataset[list(range(len(dataset)))]
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.device = device
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        index_batches = list(batch_loader(_Indices(len(self.labels)), self.batch_size, self.shuffle))
        order = torch.cat(index_batches).to(self.device, non_blocking=True)
        for idx in order.split([len(batch) for batch in index_batches]):
            yield self.images[idx], self.labels[idx]
