"""Read the DHCD digit images out of the official archive (or any zip with its layout)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bn2d_study.data.dhcd import (
    DHCD_URL,
    IMAGE_SIZE,
    MEMBER_PATTERN,
    NUM_CLASSES,
    TEST_IMAGES_PER_CLASS,
    TRAIN_IMAGES_PER_CLASS,
)
from bn2d_study.errors import DatasetUnavailableError


@dataclass(frozen=True)
class DigitSplits:
    """Both splits as uint8 arrays (N, 32, 32) with int64 labels, in ImageFolder order."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _digit_members(archive: zipfile.ZipFile) -> dict[str, list[tuple[int, str, str]]]:
    """Map split name to (label, file name, member name) for every digit PNG in the archive."""
    members: dict[str, list[tuple[int, str, str]]] = {"train": [], "test": []}
    for name in archive.namelist():
        match = MEMBER_PATTERN.search(name)
        if match:
            split, digit, file_name = match.groups()
            members[split.lower()].append((int(digit), file_name, name))
    return members


def _open_dataset_zip(path: Path) -> zipfile.ZipFile:
    """Open the zip holding the digit PNGs, looking one level into a wrapping zip if needed.

    The UCI download wraps the data set zip inside another zip; a local copy may not.
    """
    outer = zipfile.ZipFile(path)
    if any(MEMBER_PATTERN.search(name) for name in outer.namelist()):
        return outer
    for name in outer.namelist():
        if name.lower().endswith(".zip"):
            inner = zipfile.ZipFile(io.BytesIO(outer.read(name)))
            if any(MEMBER_PATTERN.search(n) for n in inner.namelist()):
                outer.close()
                return inner
            inner.close()
    outer.close()
    raise ValueError("it holds no Train/digit_k/*.png or Test/digit_k/*.png files")


def _decode_split(
    archive: zipfile.ZipFile, members: list[tuple[int, str, str]], per_class: int, split: str
) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount([label for label, _, _ in members], minlength=NUM_CLASSES)
    if not np.all(counts == per_class):
        found = ", ".join(f"digit_{k}: {c}" for k, c in enumerate(counts))
        raise ValueError(f"{split} should hold {per_class} images per class, found {found}")
    # ImageFolder order: classes sorted by folder name, then files sorted by name (as strings).
    ordered = sorted(members, key=lambda m: (m[0], m[1]))
    images = np.empty((len(ordered), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, (_, _, member) in enumerate(ordered):
        with Image.open(io.BytesIO(archive.read(member))) as image:
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise ValueError(f"{member} is {image.size[0]}x{image.size[1]}, expected 32x32")
            images[i] = np.asarray(image.convert("L"))
    labels = np.array([label for label, _, _ in ordered], dtype=np.int64)
    return images, labels


def read_digit_archive(
    path: Path,
    train_per_class: int = TRAIN_IMAGES_PER_CLASS,
    test_per_class: int = TEST_IMAGES_PER_CLASS,
) -> DigitSplits:
    """Decode all digit images of a DHCD-layout zip, checking counts and sizes.

    Raises DatasetUnavailableError, naming `data.archive`, if the file is missing, not a zip,
    truncated, or does not hold the expected images.
    """
    try:
        with _open_dataset_zip(path) as archive:
            members = _digit_members(archive)
            train = _decode_split(archive, members["train"], train_per_class, "Train")
            test = _decode_split(archive, members["test"], test_per_class, "Test")
    except FileNotFoundError as error:
        raise DatasetUnavailableError(
            f"The DHCD archive '{path}' (data.archive) does not exist. Set data.archive (or the "
            f"DHCD_ARCHIVE environment variable) to the path of the official zip, or leave it "
            f"unset to download it from {DHCD_URL}."
        ) from error
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise DatasetUnavailableError(
            f"The DHCD archive '{path}' (data.archive) is corrupt or incomplete: {error}. "
            f"Download a fresh copy of the official zip from {DHCD_URL} and point data.archive "
            f"(or DHCD_ARCHIVE) at it, or delete the file and leave data.archive unset so the "
            f"project downloads it again."
        ) from error
    return DigitSplits(*train, *test)
