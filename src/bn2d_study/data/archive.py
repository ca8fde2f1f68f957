"""Read images out of a class-per-folder archive or folder: the official DHCD zip by default.

The layout is `<anything>/Train/<class>/<image>` and `<anything>/Test/<class>/<image>` (the
split names in any case), in a zip, a zip inside a zip (as the UCI download is), or a folder.
`DataSpec` says which class folders to take, the image size and the counts to expect; the
DHCD digits are `DHCD_DIGITS`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bn2d_study.data.dhcd import (
    DHCD_URL,
    DIGIT_CLASSES,
    IMAGE_SIZE,
    TEST_IMAGES_PER_CLASS,
    TRAIN_IMAGES_PER_CLASS,
)
from bn2d_study.errors import DatasetUnavailableError

_IMAGE_SUFFIXES = r"png|jpe?g|bmp|gif|tiff?"
# `<anything>/Train/<class>/<file>.png`: split, class folder, file name.
_MEMBER_PATTERN = re.compile(
    rf"(?:^|/)(train|test)/([^/]+)/([^/]+\.(?:{_IMAGE_SUFFIXES}))$", re.IGNORECASE
)


@dataclass(frozen=True)
class DataSpec:
    """Which images to read: class folders matching `classes` (a regex), of `image_size`
    pixels square, with exactly `*_per_class` images per class where those are set."""

    classes: str = DIGIT_CLASSES
    image_size: int = IMAGE_SIZE
    train_per_class: int | None = TRAIN_IMAGES_PER_CLASS
    test_per_class: int | None = TEST_IMAGES_PER_CLASS


DHCD_DIGITS = DataSpec()


@dataclass(frozen=True)
class ImageSplits:
    """Both splits as uint8 arrays (N, H, W) with int64 labels, in ImageFolder order, and the
    class folder names (label k is `classes[k]`)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]


# (split, class folder, file name) -> a function reading the file's bytes
_Members = dict[tuple[str, str, str], Callable[[], bytes]]


def _matching(names: Iterator[tuple[str, Callable[[], bytes]]], spec: DataSpec) -> _Members:
    wanted = re.compile(spec.classes)
    members: _Members = {}
    for name, read in names:
        match = _MEMBER_PATTERN.search(name)
        if match and wanted.fullmatch(match.group(2)):
            split, folder, file_name = match.groups()
            members[split.lower(), folder, file_name] = read
    return members


@contextmanager
def _open_members(path: Path, spec: DataSpec) -> Iterator[_Members]:
    """The images of the spec's classes in a folder, a zip, or a zip inside a zip."""
    if path.is_dir():
        files = (p for p in path.rglob("*") if p.is_file())
        yield _matching(((f.relative_to(path).as_posix(), f.read_bytes) for f in files), spec)
        return
    with zipfile.ZipFile(path) as outer:
        members = _matching(((n, lambda n=n: outer.read(n)) for n in outer.namelist()), spec)
        if members:
            yield members
            return
        # The UCI download wraps the data set's zip in another zip; a local copy may not.
        for name in outer.namelist():
            if name.lower().endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(outer.read(name))) as inner:
                    members = _matching(
                        ((n, lambda n=n: inner.read(n)) for n in inner.namelist()), spec
                    )
                    if members:
                        yield members
                        return
    raise ValueError(
        f"it holds no Train/<class>/<image> or Test/<class>/<image> files of classes matching "
        f"'{spec.classes}' (data.classes)"
    )


def _decode_split(
    members: _Members, split: str, classes: tuple[str, ...], per_class: int | None, size: int
) -> tuple[np.ndarray, np.ndarray]:
    chosen = [key for key in members if key[0] == split]
    label_of = {folder: k for k, folder in enumerate(classes)}
    counts = np.bincount([label_of[folder] for _, folder, _ in chosen], minlength=len(classes))
    if per_class is not None and not np.all(counts == per_class):
        found = ", ".join(f"{c}: {n}" for c, n in zip(classes, counts, strict=True))
        raise ValueError(f"{split.title()} should hold {per_class} images per class, found {found}")
    # ImageFolder order: classes sorted by folder name, then files sorted by name (as strings).
    ordered = sorted(chosen, key=lambda key: (label_of[key[1]], key[2]))
    images = np.empty((len(ordered), size, size), dtype=np.uint8)
    for i, key in enumerate(ordered):
        with Image.open(io.BytesIO(members[key]())) as image:
            if image.size != (size, size):
                member = "/".join(key)
                raise ValueError(
                    f"{member} is {image.size[0]}x{image.size[1]}, expected {size}x{size} "
                    f"(data.image_size)"
                )
            images[i] = np.asarray(image.convert("L"))
    labels = np.array([label_of[folder] for _, folder, _ in ordered], dtype=np.int64)
    return images, labels


def read_image_folders(path: Path, spec: DataSpec = DHCD_DIGITS) -> ImageSplits:
    """Decode every image of the spec's classes in an archive or folder, checking counts and
    sizes; images are read as 8-bit grayscale.

    Raises DatasetUnavailableError, naming `data.archive`, if the path is missing, not a zip
    or folder, truncated, or does not hold the expected images.
    """
    try:
        with _open_members(Path(path), spec) as members:
            train_classes = {folder for split, folder, _ in members if split == "train"}
            test_classes = {folder for split, folder, _ in members if split == "test"}
            if train_classes != test_classes:
                raise ValueError(
                    f"Train and Test have different classes: {sorted(train_classes)} and "
                    f"{sorted(test_classes)}"
                )
            classes = tuple(sorted(train_classes))
            size = spec.image_size
            train = _decode_split(members, "train", classes, spec.train_per_class, size)
            test = _decode_split(members, "test", classes, spec.test_per_class, size)
    except FileNotFoundError as error:
        raise DatasetUnavailableError(
            f"The archive '{path}' (data.archive) does not exist. Set data.archive (or the "
            f"DHCD_ARCHIVE environment variable) to the path of the official zip, or leave it "
            f"unset to download it from {DHCD_URL}."
        ) from error
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise DatasetUnavailableError(
            f"The archive '{path}' (data.archive) is corrupt or incomplete: {error}. "
            f"Download a fresh copy of the official zip from {DHCD_URL} and point data.archive "
            f"(or DHCD_ARCHIVE) at it, or delete the file and leave data.archive unset so the "
            f"project downloads it again."
        ) from error
    return ImageSplits(*train, *test, classes)
