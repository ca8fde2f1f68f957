"""Write a file so that a reader sees either nothing (or the old file) or the complete new one."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

_UMASK_LOCK = threading.Lock()


def umask_file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file: 0o666 less the umask."""
    # The umask can only be read by setting it; the lock keeps threads from seeing the 0.
    with _UMASK_LOCK:
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a temp file in `path`'s folder, then rename it onto `path`.

    The rename is atomic on POSIX, so a crash, a full disk or a concurrent reader never meets
    a half-written file; the temp file is removed if `write` fails. The file gets the mode
    the user's umask allows (mkstemp's own 0600 would hide it from a cluster's other users).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), umask_file_mode())
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        if error.filename is None:  # a write through a handle names no file: name it
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_csv(
    path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> None:
    """Write rows as a CSV file, atomically: `columns`, or every key of the rows in the order
    they first appear; a key a row lacks is left empty."""
    if columns is None:
        found: list[str] = []
        for row in rows:
            found += [key for key in row if key not in found]
        columns = found
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
