"""Small archives in the official DHCD layout, made on the fly (the real one is never copied)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

TINY_TRAIN_PER_CLASS = 12
TINY_TEST_PER_CLASS = 4


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
