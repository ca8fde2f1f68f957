"""Small archives in the official DHCD layout, made on the fly (the real one is never copied)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bn2d_study.data.archive import DataSpec

TINY_TRAIN_PER_CLASS = 12
TINY_TEST_PER_CLASS = 4
# What the tiny archive holds: the DHCD digits' layout, 12 and 4 images per class.
TINY_SPEC = DataSpec(train_per_class=TINY_TRAIN_PER_CLASS, test_per_class=TINY_TEST_PER_CLASS)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def make_dhcd_zip(
    path: Path,
    train_per_class: int = TINY_TRAIN_PER_CLASS,
    test_per_class: int = TINY_TEST_PER_CLASS,
    root: str = "DevanagariHandwrittenCharacterDataset",
    split_names: tuple[str, str] = ("Train", "Test"),
    image_size: int = 32,
    seed: int = 0,
    extra_members: dict[str, bytes] | None = None,
) -> Path:
    """Write a zip in the official layout: `<root>/Train/digit_k/<id>.png`, random pixels.

    File ids run from 1 upward, so string order ("10.png" < "9.png") differs from numeric
    order, as in the real archive; each class's pixels are offset so classes differ.
    """
    rng = np.random.default_rng(seed)
    next_id = 1
    with zipfile.ZipFile(path, "w") as archive:
        for split, per_class in zip(split_names, (train_per_class, test_per_class), strict=True):
            for digit in range(10):
                for _ in range(per_class):
                    pixels = rng.integers(0, 200, (image_size, image_size), dtype=np.uint8)
                    pixels[digit : digit + 3, :] = 255
                    archive.writestr(f"{root}/{split}/digit_{digit}/{next_id}.png", _png(pixels))
                    next_id += 1
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
    return path


def make_class_folders(
    root: Path,
    classes: tuple[str, ...],
    train_counts: tuple[int, ...],
    test_counts: tuple[int, ...],
    image_size: int = 16,
    seed: int = 0,
) -> Path:
    """Another data set in the same layout, as a folder: `root/Train/<class>/<id>.png`, with
    its own class names, image size and uneven counts per class."""
    rng = np.random.default_rng(seed)
    for split, counts in (("Train", train_counts), ("Test", test_counts)):
        for label, (name, count) in enumerate(zip(classes, counts, strict=True)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 120, (image_size, image_size), dtype=np.uint8)
                pixels[:, label : label + 2] = 255
                Image.fromarray(pixels, mode="L").save(folder / f"{index}.png")
    return root
