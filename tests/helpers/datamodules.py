"""A data module of the tests' own, in another format (tensors made in memory, no archive):
what docs/adapt.md's recipe 12 plugs in by config only."""

from __future__ import annotations

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset


class NoisyBars(LightningDataModule):
    """`num_classes` classes of `image_size` x `image_size` grayscale images: class k has a bright
    bar in row k, over noise. Train, and a Test set evaluated every epoch.

    The contract the classifier and the report rely on (docs/adapt.md): batches of (images
    (B, 1, H, W) float, labels (B,) long); `val_loader_splits`; and `num_classes` and
    `image_size` keys, which the network's config reads (${data.num_classes}, ...).
    """

    def __init__(self, num_classes: int, image_size: int, per_class: int, batch_size: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.image_size = image_size
        self.per_class = per_class
        self.batch_size = batch_size
        # One validation dataloader, Test, logged as both `val/*` and `test/*`.
        self.val_loader_splits = [("val", "test")]

    def _split(self, seed: int) -> TensorDataset:
        generator = torch.Generator().manual_seed(seed)
        labels = torch.arange(self.num_classes).repeat_interleave(self.per_class)
        images = torch.rand(len(labels), 1, self.image_size, self.image_size, generator=generator)
        images[torch.arange(len(labels)), 0, labels] += 1.0
        return TensorDataset(images, labels)

    def setup(self, stage: str | None = None) -> None:
        self.train_set, self.test_set = self._split(0), self._split(1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [DataLoader(self.test_set, batch_size=self.batch_size)]

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size)


class NoisyBarsWithoutSplits(NoisyBars):
    """The same, without saying which metric groups its validation dataloaders report."""

    def __init__(self, num_classes: int, image_size: int, per_class: int, batch_size: int) -> None:
        super().__init__(num_classes, image_size, per_class, batch_size)
        del self.val_loader_splits
