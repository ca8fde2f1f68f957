"""Find the images: an existing cache, else a local archive or folder, else the official download."""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

from filelock import FileLock
from torchvision.datasets.utils import download_url

from bn2d_study.data.archive import DataSpec, ImageSplits, read_image_folders
from bn2d_study.data.cache import UnusableCacheError, read_cache, write_cache
from bn2d_study.errors import DatasetUnavailableError
from bn2d_study.utils.atomic_write import umask_file_mode

log = logging.getLogger(__name__)



def download_archive(url: str, data_dir: Path) -> Path:
    """Download the archive into `data_dir` (progress bar from torchvision), atomically.

    The file appears under its final name only once complete, so an interrupted download
    leaves nothing that a later run would mistake for the archive.
    """
    target = data_dir / Path(urlparse(url).path).name
    if target.is_file():
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=data_dir) as tmp_dir:
        try:
            download_url(url, tmp_dir, filename=target.name)
        except Exception as error:
            raise DatasetUnavailableError(
                f"Could not download the DHCD archive from {url} ({error}). Without network "
                f"access, set data.archive (or the DHCD_ARCHIVE environment variable) to a local "
                f"copy of the official zip, e.g. data.archive=/path/to/dhcd.zip."
            ) from error
        downloaded = Path(tmp_dir) / target.name
        # A dropped connection can end the transfer early without an error: a zip whose end
        # record is missing is such a partial file, and must not take the archive's name.
        if not zipfile.is_zipfile(downloaded):
            raise DatasetUnavailableError(
                f"The download from {url} is incomplete or not a zip file "
                f"({downloaded.stat().st_size} bytes). Try again, or set data.archive (or the "
                f"DHCD_ARCHIVE environment variable) to a local copy of the official zip."
            )
        os.replace(downloaded, target)
    return target


def _usable_cache(path: Path, spec: DataSpec, warn: bool) -> ImageSplits | None:
    """The cache's splits, or None to build it; with `warn`, say why an existing one is unused."""
    try:
        return read_cache(path, spec)
    except UnusableCacheError as problem:
        if warn:
            log.warning("The data cache %s is unusable: %s. Rebuilding it.", path, problem)
        return None


def prepare_images(
    data_dir: Path,
    archive: Path | None,
    url: str,
    spec: DataSpec,
    cache_name: str,
) -> ImageSplits:
    """Return the splits, building the cache `data_dir/cache_name` first if needed.

    Order: a valid cache; else the local `archive` (a zip or a folder); else a download of
    `url`. A file lock makes concurrent sweep jobs build the cache once; the others wait and
    reuse it.
    """
    cache_path = data_dir / cache_name
    splits = _usable_cache(cache_path, spec, warn=False)
    if splits is not None:
        return splits
    data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_path) + ".lock", mode=umask_file_mode()):
        # Another job may have built it while this one waited for the lock.
        splits = _usable_cache(cache_path, spec, warn=True)
        if splits is not None:
            return splits
        source = archive if archive is not None else download_archive(url, data_dir)
        log.info("Building the data cache %s from %s", cache_path, source)
        splits = read_image_folders(source, spec)
        write_cache(splits, cache_path, spec)
    return splits
