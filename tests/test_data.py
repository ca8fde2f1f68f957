"""The data module on small archives in the official layout: extraction, cache, errors, order."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    TINY_SPEC,
    TINY_TEST_PER_CLASS,
    TINY_TRAIN_PER_CLASS,
    UNREACHABLE_URL,
    cache_name,
    make_class_folders,
    make_dhcd_zip,
    make_tiny_datamodule,
)
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets, transforms

from bn2d_study.data import cache as cache_module
from bn2d_study.data.archive import DataSpec, read_image_folders
from bn2d_study.data.dhcd import DHCD_URL
from bn2d_study.data.source import prepare_images
from bn2d_study.errors import ConfigError, DatasetUnavailableError


def extract(archive: Path, target: Path) -> Path:
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(target)
    return target / "DevanagariHandwrittenCharacterDataset"


def test_extraction_counts_and_imagefolder_order(tiny_archive: Path, tmp_path: Path) -> None:
    splits = read_image_folders(tiny_archive, TINY_SPEC)
    assert splits.train_images.shape == (10 * TINY_TRAIN_PER_CLASS, 32, 32)
    assert splits.test_images.shape == (10 * TINY_TEST_PER_CLASS, 32, 32)
    assert np.bincount(splits.train_labels).tolist() == [TINY_TRAIN_PER_CLASS] * 10
    # Same images, labels and order as torchvision's ImageFolder over the extracted files.
    root = extract(tiny_archive, tmp_path)
    for split, images, labels in (
        ("Train", splits.train_images, splits.train_labels),
        ("Test", splits.test_images, splits.test_labels),
    ):
        folder = datasets.ImageFolder(root / split, transform=transforms.PILToTensor())
        expected = torch.stack([folder[i][0][0] for i in range(len(folder))])
        assert torch.equal(torch.from_numpy(images), expected)
        assert labels.tolist() == folder.targets


def test_folder_names_match_case_insensitively(tmp_path: Path) -> None:
    archive = make_dhcd_zip(tmp_path / "lower.zip", split_names=("train", "TEST"), root="dhcd")
    splits = read_image_folders(archive, TINY_SPEC)
    assert len(splits.train_labels) == 10 * TINY_TRAIN_PER_CLASS


def test_dataset_zip_wrapped_in_another_zip(tiny_archive: Path, tmp_path: Path) -> None:
    wrapper = tmp_path / "download.zip"
    with zipfile.ZipFile(wrapper, "w") as handle:
        handle.writestr("readme.txt", "the UCI download wraps the data set zip")
        handle.write(tiny_archive, "DevanagariHandwrittenCharacterDataset.zip")
    inner = read_image_folders(tiny_archive, TINY_SPEC)
    outer = read_image_folders(wrapper, TINY_SPEC)
    assert np.array_equal(inner.train_images, outer.train_images)
    assert np.array_equal(inner.test_labels, outer.test_labels)


def test_other_members_are_ignored(tmp_path: Path) -> None:
    consonant = Image.new("L", (32, 32))
    extra = tmp_path / "c.png"
    consonant.save(extra)
    archive = make_dhcd_zip(
        tmp_path / "full.zip",
        extra_members={
            "DevanagariHandwrittenCharacterDataset/Train/character_1_ka/1.png": extra.read_bytes()
        },
    )
    splits = read_image_folders(archive, TINY_SPEC)
    assert len(splits.train_labels) == 10 * TINY_TRAIN_PER_CLASS


def test_cache_is_built_once_and_reused(tiny_archive: Path, tmp_path: Path) -> None:
    dm = make_tiny_datamodule(tiny_archive, tmp_path)
    dm.prepare_data()
    cache = tmp_path / cache_name()
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    # With a valid cache the archive is no longer needed, and the cache is not rewritten.
    dm2 = make_tiny_datamodule(tmp_path / "gone.zip", tmp_path)
    dm2.prepare_data()
    dm2.setup()
    assert cache.stat().st_mtime_ns == stamp
    assert len(dm2.train_set) + len(dm2.val_set) == 10 * TINY_TRAIN_PER_CLASS
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        cache_name(),
        cache_name() + ".lock",
    ]


def test_corrupt_cache_is_rebuilt_with_a_warning_naming_it(
    tiny_archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / cache_name()
    cache.write_bytes(b"not a cache")
    with caplog.at_level(logging.WARNING):
        splits = prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, TINY_SPEC, cache_name())
    assert len(splits.test_labels) == 10 * TINY_TEST_PER_CLASS
    assert cache_module.read_cache(cache, TINY_SPEC) is not None
    assert f"The data cache {cache} is unusable: it cannot be read" in caplog.text


def test_cache_with_wrong_checksum_is_rejected_then_rebuilt_with_a_warning(
    tiny_archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, TINY_SPEC, cache_name())
    cache = tmp_path / cache_name()
    payload = torch.load(cache, weights_only=True)
    payload["train_images"][0, 0, 0] ^= 1
    torch.save(payload, cache)
    with pytest.raises(cache_module.UnusableCacheError, match="checksum"):
        cache_module.read_cache(cache, TINY_SPEC)
    with caplog.at_level(logging.WARNING):
        prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, TINY_SPEC, cache_name())
    assert f"The data cache {cache} is unusable: it fails its sha256 checksum" in caplog.text
    assert cache_module.read_cache(cache, TINY_SPEC) is not None


def test_cache_and_its_lock_are_readable_as_the_umask_allows(
    tiny_archive: Path, tmp_path: Path
) -> None:
    previous = os.umask(0o002)  # a group-shared data folder on a cluster
    try:
        prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, TINY_SPEC, cache_name())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / cache_name()).stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / (cache_name() + ".lock")).stat().st_mode) == 0o664


def test_interrupted_cache_write_leaves_nothing(
    tiny_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def save_half_then_die(obj: object, handle: object) -> None:
        handle.write(b"\x80partial pickle")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.torch, "save", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, TINY_SPEC, cache_name())
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_archive_and_no_network_is_one_clear_error(tmp_path: Path) -> None:
    dm = make_tiny_datamodule(None, tmp_path / "data")
    with pytest.raises(DatasetUnavailableError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "data.archive" in message and UNREACHABLE_URL in message
    leftovers = [p for p in (tmp_path / "data").rglob("*") if not p.name.endswith(".lock")]
    assert leftovers == []


def test_archive_path_that_does_not_exist(tmp_path: Path) -> None:
    dm = make_tiny_datamodule(tmp_path / "missing.zip", tmp_path / "data")
    with pytest.raises(DatasetUnavailableError, match=r"does not exist.*data\.archive"):
        dm.prepare_data()


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip", "missing_images", "wrong_size"])
def test_corrupt_or_incomplete_archive(tiny_archive: Path, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "bad.zip"
    if damage == "truncated":
        data = tiny_archive.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "not_a_zip":
        bad.write_text("<html>503 Service Unavailable</html>")
    elif damage == "missing_images":
        make_dhcd_zip(bad, train_per_class=TINY_TRAIN_PER_CLASS - 1)
    else:
        make_dhcd_zip(bad, image_size=28)
    data_dir = tmp_path / "data"
    dm = make_tiny_datamodule(bad, data_dir)
    with pytest.raises(DatasetUnavailableError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "data.archive" in message and "corrupt or incomplete" in message
    assert DHCD_URL in message
    assert not (data_dir / cache_name()).exists()
    assert [p for p in data_dir.iterdir() if not p.name.endswith(".lock")] == []


def _prepare_in_process(args: tuple[str, str]) -> str:
    archive, data_dir = args
    splits = prepare_images(Path(data_dir), Path(archive), UNREACHABLE_URL, TINY_SPEC, cache_name())
    return str(splits.train_images.sum())


def test_two_prepares_at_once_build_one_valid_cache(tiny_archive: Path, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        sums = pool.map(_prepare_in_process, [(str(tiny_archive), str(tmp_path))] * 2)
    assert sums[0] == sums[1]
    splits = cache_module.read_cache(tmp_path / cache_name(), TINY_SPEC)
    assert splits is not None and str(splits.train_images.sum()) == sums[0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_validation_split_uses_its_own_generator(tiny_archive: Path, tmp_path: Path) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    dm = make_tiny_datamodule(tiny_archive, tmp_path, val_fraction=0.25, split_seed=7)
    dm.prepare_data()
    dm.setup()
    assert torch.equal(torch.get_rng_state(), before)
    assert len(dm.val_set) == 30 and len(dm.train_set) == 90
    again = make_tiny_datamodule(tiny_archive, tmp_path, val_fraction=0.25, split_seed=7)
    again.setup()
    assert torch.equal(dm.val_set.images, again.val_set.images)
    other = make_tiny_datamodule(tiny_archive, tmp_path, val_fraction=0.25, split_seed=8)
    other.setup()
    assert not torch.equal(dm.val_set.images, other.val_set.images)
    # Held-out and kept images partition Train.
    all_train = read_image_folders(tiny_archive, TINY_SPEC)
    merged = torch.cat([dm.train_set.images, dm.val_set.images]).flatten(1)
    expected = torch.from_numpy(all_train.train_images).flatten(1)
    assert sorted(map(tuple, merged.tolist())) == sorted(map(tuple, expected.tolist()))


def test_val_fraction_too_small_to_hold_out_an_image(tiny_archive: Path, tmp_path: Path) -> None:
    dm = make_tiny_datamodule(tiny_archive, tmp_path, val_fraction=0.001)
    with pytest.raises(ConfigError, match=r"data\.val_fraction=0\.001 holds out 0 of 120"):
        dm.setup()


def test_val_fraction_zero_evaluates_on_test(tiny_archive: Path, tmp_path: Path) -> None:
    dm = make_tiny_datamodule(tiny_archive, tmp_path, val_fraction=0.0)
    dm.setup()
    assert len(dm.train_set) == 10 * TINY_TRAIN_PER_CLASS
    loaders = dm.val_dataloader()
    assert len(loaders) == 1 and loaders[0].dataset is dm.test_set
    assert dm.val_loader_splits == [("val", "test")]
    with_val = make_tiny_datamodule(tiny_archive, tmp_path, val_fraction=0.1)
    with_val.setup()
    assert [loader.dataset for loader in with_val.val_dataloader()] == [
        with_val.val_set,
        with_val.test_set,
    ]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_pixels_and_shuffled_batches_equal_a_plain_dataloader(
    tiny_archive: Path, tmp_path: Path, num_workers: int
) -> None:
    dm = make_tiny_datamodule(
        tiny_archive, tmp_path, val_fraction=0.0, batch_size=16, num_workers=num_workers
    )
    dm.setup()
    to_tensor = transforms.ToTensor()
    reference = TensorDataset(
        torch.stack([to_tensor(img.numpy()[:, :, None]) for img in dm.train_set.images]),
        dm.train_set.labels,
    )
    for seed in (0, 5842):
        torch.manual_seed(seed)
        ours = [batch for _ in range(2) for batch in dm.train_dataloader()]
        torch.manual_seed(seed)
        plain = [
            batch for _ in range(2) for batch in DataLoader(reference, batch_size=16, shuffle=True)
        ]
        assert len(ours) == len(plain)
        for (x, y), (px, py) in zip(ours, plain, strict=True):
            assert x.dtype == torch.float32 and x.shape[1:] == (1, 32, 32)
            assert torch.equal(x, px) and torch.equal(y, py)


def test_normalize_uses_train_split_statistics(tiny_archive: Path, tmp_path: Path) -> None:
    dm = make_tiny_datamodule(tiny_archive, tmp_path, normalize=True, val_fraction=0.0)
    dm.setup()
    x, _ = dm.train_set[list(range(len(dm.train_set)))]
    assert abs(x.mean().item()) < 1e-5
    assert abs(x.std().item() - 1) < 1e-4


def test_a_data_set_with_other_classes_than_num_classes_is_one_clear_error(
    tmp_path: Path,
) -> None:
    letters = make_class_folders(tmp_path / "letters", ("a", "b"), (4, 4), (2, 2), image_size=32)
    dm = make_tiny_datamodule(
        letters, tmp_path / "data", classes=".*", train_per_class=None, test_per_class=None
    )
    with pytest.raises(ConfigError, match=r"data.num_classes=10, but the data holds 2 classes"):
        dm.setup()


def test_a_cache_of_other_classes_is_rebuilt_not_used(
    tiny_archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, TINY_SPEC, cache_name())
    fewer = DataSpec("digit_[0-4]", 32, TINY_TRAIN_PER_CLASS, TINY_TEST_PER_CLASS)
    with caplog.at_level(logging.WARNING):
        splits = prepare_images(tmp_path, tiny_archive, UNREACHABLE_URL, fewer, cache_name())
    assert splits.classes == tuple(f"digit_{k}" for k in range(5))
    assert "it holds classes 'digit_[0-9]', not 'digit_[0-4]' (data.classes)" in caplog.text
