"""`HindiDigitsDataModule`: the DHCD digits as in-memory tensors, with a seeded validation split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from bn2d_study.data.archive import DataSpec, ImageSplits
from bn2d_study.data.device_batches import DeviceBatches
from bn2d_study.data.in_memory import InMemoryDigits, balanced_order, batch_loader
from bn2d_study.data.source import prepare_images
from bn2d_study.errors import ConfigError



class HindiDigitsDataModule(LightningDataModule):
    """Devanagari handwritten digits (DHCD): 17,000 train and 3,000 test 32x32 images.

    Any other image data set in the same class-per-folder layout (`Train/<class>/<image>`,
    `Test/<class>/<image>`, zipped or not) reads the same way: name its archive or folder,
    which class folders to take, the image size and the class count (docs/adapt.md).

    Args:
        data_dir: where the cache (and a downloaded archive) live.
        archive: a local copy of the official zip, or another archive or folder of the same
            layout; None downloads the official zip from `url` when there is no cache.
        url: the official archive's address.
        batch_size: images per batch, for training and evaluation alike (as in the study).
        val_fraction: share of Train held out for validation; 0 evaluates on Test every epoch.
        split_seed: seed of the generator that draws the held-out images.
        num_workers, pin_memory: passed to the DataLoaders.
        normalize: standardize with the train split's pixel mean and std.
        classes: which class folders to read (a regular expression on their names).
        num_classes: how many classes it must find (the network's outputs).
        image_size: the images' width and height, in pixels.
        train_per_class, test_per_class: image counts each class must hold; None checks none.
        cache_name: the cache's file name in `data_dir`.
        device_resident: hold the data on the training device and draw batches there by index
            (`DeviceBatches`): "auto" does so in a single process with no DataLoader workers
            (on CPU it saves the per-batch DataLoader work; on a GPU also the host-to-device
            copies), true always, false never. Batches are the same either way.
    """

    def __init__(
        self,
        data_dir: str,
        archive: str | None,
        url: str,
        batch_size: int,
        val_fraction: float,
        split_seed: int,
        num_workers: int,
        pin_memory: bool,
        normalize: bool,
        classes: str,
        num_classes: int,
        image_size: int,
        train_per_class: int | None,
        test_per_class: int | None,
        cache_name: str,
        device_resident: bool | str,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.data_dir = Path(data_dir).expanduser()
        self.archive = Path(archive).expanduser().absolute() if archive else None
        self.train_set: InMemoryDigits | None = None
        self.val_set: InMemoryDigits | None = None
        self.test_set: InMemoryDigits | None = None
        self.resident_device: torch.device | None = None

    @property
    def val_loader_splits(self) -> list[tuple[str, ...]]:
        """For each validation dataloader, the metric groups it reports (`val`, `test` or both)."""
        if self.hparams.val_fraction > 0:
            return [("val",), ("test",)]
        return [("val", "test")]

    def _load(self) -> ImageSplits:
        spec = DataSpec(
            self.hparams.classes,
            self.hparams.image_size,
            self.hparams.train_per_class,
            self.hparams.test_per_class,
        )
        splits = prepare_images(
            self.data_dir, self.archive, self.hparams.url, spec, self.hparams.cache_name
        )
        if len(splits.classes) != self.hparams.num_classes:
            raise ConfigError(
                f"data.num_classes={self.hparams.num_classes}, but the data holds "
                f"{len(splits.classes)} classes matching data.classes='{self.hparams.classes}': "
                f"{', '.join(splits.classes)}. Set data.num_classes={len(splits.classes)} (the "
                f"network's outputs follow it), or narrow data.classes."
            )
        return splits

    def prepare_data(self) -> None:
        """Build the cache once (on one process per node) from the archive or a download."""
        self._load()

    def setup(self, stage: str | None = None) -> None:
        """Load the cache into memory and split Train into train and validation parts."""
        if self.train_set is not None:
            return
        splits = self._load()
        images = torch.from_numpy(splits.train_images)
        labels = torch.from_numpy(splits.train_labels)
        n_val = round(len(labels) * self.hparams.val_fraction)
        if self.hparams.val_fraction > 0 and not 0 < n_val < len(labels):
            raise ConfigError(
                f"data.val_fraction={self.hparams.val_fraction} holds out {n_val} of "
                f"{len(labels)} train images; choose a fraction that leaves both parts "
                f"non-empty, or 0 to evaluate on Test instead."
            )
        # Own generator: the split must not consume or depend on torch's global random stream.
        generator = torch.Generator().manual_seed(self.hparams.split_seed)
        order = torch.randperm(len(labels), generator=generator)
        val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
        mean = std = None
        if self.hparams.normalize:
            train_pixels = images[train_idx].to(torch.float32).div(255)
            mean, std = train_pixels.mean().item(), train_pixels.std().item()
        self.train_set = InMemoryDigits(images[train_idx], labels[train_idx], mean, std)
        self.val_set = InMemoryDigits(images[val_idx], labels[val_idx], mean, std)
        self.test_set = InMemoryDigits(
            torch.from_numpy(splits.test_images), torch.from_numpy(splits.test_labels), mean, std
        )

    def _resident_device(self) -> torch.device | None:
        """The device to hold the data on, or None for the DataLoader path."""
        setting = self.hparams.device_resident
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        single_process = trainer is None or trainer.world_size == 1
        if setting == "auto":
            # DataLoader workers would have nothing to do on resident data: asking for them
            # (data.num_workers > 0) keeps the DataLoader path.
            wants_workers = self.hparams.num_workers > 0
            return device if single_process and not wants_workers else None
        if not setting:
            return None
        if not single_process:
            raise ConfigError(
                "data.device_resident=true holds the whole data set on each device and cannot "
                "shard it between the processes of distributed training; use "
                "data.device_resident=auto (which falls back to DataLoaders there) or false."
            )
        return device

    def _loader(self, dataset: InMemoryDigits | None, shuffle: bool) -> DataLoader | DeviceBatches:
        assert dataset is not None, "call setup() first"
        if self.resident_device is None:
            self.resident_device = self._resident_device()
        if self.resident_device is not None:
            return DeviceBatches(dataset, self.hparams.batch_size, shuffle, self.resident_device)
        # In distributed training Lightning swaps this loader's sampler for a
        # DistributedSampler (each process's shard, reshuffled every epoch).
        return batch_loader(
            dataset,
            self.hparams.batch_size,
            shuffle,
            self.hparams.num_workers,
            self.hparams.pin_memory,
        )

    def _evaluation_order(
        self, dataset: InMemoryDigits | None, limit: int | float | None
    ) -> InMemoryDigits:
        """The evaluation set in the order a trainer limited to `limit` batches should see it.

        Lightning evaluates the first batches: `limit` of them (an int) or `int(limit *
        batches)` (a fraction), and it applies that rule itself. In this class-sorted data the
        first batches hold one or two digits, and the accuracy would come out near 0 or 1. So
        when a limit cuts the set short, the whole set is served class-interleaved (drawn with
        `split_seed`, the same for every run): whatever number of batches Lightning's rule
        takes is class-balanced. Without a limit the set is served whole, in its order.
        """
        assert dataset is not None, "call setup() first"
        batches = -(-len(dataset) // self.hparams.batch_size)
        if limit is None or isinstance(limit, bool):
            return dataset
        cut_short = limit < batches if isinstance(limit, int) else limit < 1.0
        if not cut_short:
            return dataset
        return dataset.reordered(balanced_order(dataset.labels, self.hparams.split_seed))

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Batches held on the device (`device_resident`) are there already: no copy, no walk
        through the batch's structure."""
        if self.resident_device == device:
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        """Shuffled train batches, in the order `DataLoader(shuffle=True)` gives.

        Not shuffled with `trainer.overfit_batches`: Lightning's rule for it (the same batches
        every epoch), which it cannot apply itself to the device-resident batches.
        """
        overfit = self.trainer is not None and self.trainer.overfit_batches > 0
        return self._loader(self.train_set, shuffle=not overfit)

    def val_dataloader(self) -> list[DataLoader | DeviceBatches]:
        """Validation part of Train (if any), then Test: both are evaluated every epoch."""
        limit = self.trainer.limit_val_batches if self.trainer is not None else None
        sets = [self.val_set, self.test_set] if self.hparams.val_fraction > 0 else [self.test_set]
        return [self._loader(self._evaluation_order(s, limit), shuffle=False) for s in sets]

    def test_dataloader(self) -> DataLoader | DeviceBatches:
        """Test, in order (class-interleaved when the trainer limits its batches)."""
        limit = self.trainer.limit_test_batches if self.trainer is not None else None
        return self._loader(self._evaluation_order(self.test_set, limit), shuffle=False)
