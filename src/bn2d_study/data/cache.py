"""The prepared-data cache: one file holding both splits, versioned, checksummed, written atomically.

It records which class folders (`data.classes`) and image size it holds, so a cache made for
other data is rebuilt instead of used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from bn2d_study.data.archive import DataSpec, ImageSplits
from bn2d_study.utils.atomic_write import atomic_write

CACHE_FORMAT_VERSION = 2  # 2: records the class folders and the data.classes pattern
_ARRAY_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


def _checksum(arrays: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in _ARRAY_FIELDS:
        digest.update(name.encode())
        digest.update(arrays[name].numpy().tobytes())
    return digest.hexdigest()


def write_cache(splits: ImageSplits, path: Path, spec: DataSpec) -> None:
    """Write the splits to `path` via a temp file in the same folder and an atomic rename.

    A reader never sees a partly written file: either the old state or the complete new one.
    """
    arrays = {name: torch.from_numpy(getattr(splits, name)) for name in _ARRAY_FIELDS}
    payload = {
        "format_version": CACHE_FORMAT_VERSION,
        "sha256": _checksum(arrays),
        "class_pattern": spec.classes,
        "classes": list(splits.classes),
        **arrays,
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))


class UnusableCacheError(Exception):
    """The cache file exists but cannot be used; the message says why."""


def read_cache(path: Path, spec: DataSpec) -> ImageSplits | None:
    """Load the cache: None if it does not exist.

    Raises `UnusableCacheError` when it is of another format or version, fails its checksum
    (damaged, or partly overwritten), or holds other data than `spec` asks for.
    """
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:  # a file of another format or a foreign file
        raise UnusableCacheError(f"it cannot be read ({type(error).__name__})") from error
    if not isinstance(payload, dict) or payload.get("format_version") != CACHE_FORMAT_VERSION:
        raise UnusableCacheError(f"it is not of cache format {CACHE_FORMAT_VERSION}")
    if any(name not in payload for name in _ARRAY_FIELDS) or payload.get("sha256") != _checksum(
        payload
    ):
        raise UnusableCacheError("it fails its sha256 checksum (damaged or partly overwritten)")
    if payload.get("class_pattern") != spec.classes:
        raise UnusableCacheError(
            f"it holds classes '{payload.get('class_pattern')}', not '{spec.classes}' "
            f"(data.classes)"
        )
    splits = ImageSplits(
        *(payload[name].numpy() for name in _ARRAY_FIELDS), tuple(payload["classes"])
    )
    if splits.train_images.shape[1:] != (spec.image_size, spec.image_size):
        raise UnusableCacheError(
            f"it holds images of {splits.train_images.shape[1:]}, not {spec.image_size} square "
            f"(data.image_size)"
        )
    expected = {"train": spec.train_per_class, "test": spec.test_per_class}
    for split, per_class in expected.items():
        counts = np.bincount(getattr(splits, f"{split}_labels"), minlength=len(splits.classes))
        if per_class is not None and not np.all(counts == per_class):
            raise UnusableCacheError(
                f"it holds {split} images per class {counts.tolist()}, not {per_class} each "
                f"(data.{split}_per_class)"
            )
    return splits
