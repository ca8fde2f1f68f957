"""Errors meant for the person running the study: each says what went wrong and how to fix it."""

from __future__ import annotations

import errno
from typing import Any


class StudyError(Exception):
    """Base class of errors caused by the user's setup (config or data), not by a bug."""


class ConfigError(StudyError, ValueError):
    """A config value is out of range or inconsistent; the message names the key."""


def fix_the_key(key: str, message: str, more: str = "") -> ConfigError:
    """A `ConfigError` of `message` (which names `key`) that says where to fix the key; `more`
    adds to that last sentence."""
    return ConfigError(
        f"{message}. Fix it on the command line ({key}=...) or in its YAML file under "
        f"configs/{more}."
    )


def invalid_value(key: str, value: Any, rule: str) -> ConfigError:
    """The error of one config value that breaks a rule: it names the key, the value, the rule
    and where to fix it."""
    return fix_the_key(key, f"{key}={value!r} is invalid: {rule}")


class RunFolderInUseError(ConfigError):
    """The run folder already holds a run, and the command did not ask to resume it."""


class DatasetUnavailableError(StudyError, RuntimeError):
    """The DHCD digits could not be found, downloaded or read."""


class ResourceError(StudyError):
    """The machine ran out of something (disk space, memory) or refused access to a path."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code


# errno -> (what happened, how to fix it); {path} is the file the system named.
_FILE_SYSTEM_FIXES = {
    errno.ENOSPC: (
        "No space left on the device holding {path}",
        "free space there, or point the run folders elsewhere (paths.log_dir, hydra.sweep.dir, "
        "hydra.run.dir) or the data cache (data.data_dir)",
    ),
    errno.EDQUOT: (
        "Disk quota exceeded writing {path}",
        "free space within your quota, or point the run folders (paths.log_dir) or the data "
        "cache (data.data_dir) to a file system with room",
    ),
    errno.EACCES: (
        "Permission denied on {path}",
        "make that folder writable for your user (chmod/chown), or point the run folders "
        "(paths.log_dir, hydra.sweep.dir) or the data cache (data.data_dir) to a folder you own",
    ),
    errno.EPERM: (
        "Operation not permitted on {path}",
        "make that folder writable for your user, or point the run folders (paths.log_dir) or "
        "the data cache (data.data_dir) to a folder you own",
    ),
    errno.EROFS: (
        "The file system holding {path} is read-only",
        "point the run folders (paths.log_dir, hydra.sweep.dir) or the data cache "
        "(data.data_dir) to a writable file system",
    ),
}

_MEMORY_FIX = (
    "lower data.batch_size or the network's size (model.net.filters, model.net.conv_layers), "
    "run fewer runs at once (hydra.launcher.n_jobs), or ask the scheduler for more memory "
    "(hydra.launcher.mem_gb)"
)


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    # torch.OutOfMemoryError (CUDA) subclasses RuntimeError; the CPU allocator raises a plain
    # RuntimeError. Matching the message covers both without importing torch here.
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "out of memory" in text.lower() or "can't allocate memory" in text
    )


def as_resource_error(error: BaseException) -> ResourceError | None:
    """A one-paragraph `ResourceError` for disk-full, permission and out-of-memory errors.

    Looks through chained exceptions (`raise ... from`), since libraries often wrap the
    `OSError`. None when the error is of another kind.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ResourceError):
            return current
        if isinstance(current, OSError) and current.errno in _FILE_SYSTEM_FIXES:
            what, fix = _FILE_SYSTEM_FIXES[current.errno]
            path = current.filename or "the run or data folder"
            return ResourceError(
                current.errno,
                f"{what.format(path=path)} ({current.strerror or current}). To fix it, {fix}; "
                f"then rerun the same command with resume=true (for a single run, with "
                f"hydra.run.dir=<its folder>).",
            )
        if _is_out_of_memory(current):
            first_line = str(current).strip().splitlines()[0] if str(current).strip() else ""
            return ResourceError(
                errno.ENOMEM,
                f"Out of memory ({type(current).__name__}: {first_line[:300]}). To fix it, "
                f"{_MEMORY_FIX}.",
            )
        current = current.__cause__ or current.__context__
    return None
