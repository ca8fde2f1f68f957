"""`AtomicCheckpointIO`: checkpoints written whole or not at all, next to where they belong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from bn2d_study.utils.atomic_write import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, but each file is written to a temp file in its own folder
    and renamed onto its name.

    Lightning's own "atomic" save stages the file in the system temp folder and then copies it
    across file systems, truncating the old checkpoint first: on a full disk that leaves a
    broken `last.ckpt` where a good one was, and the file gets mode 0600. Here a failed write
    leaves the previous checkpoint intact, and the file's mode follows the umask.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Write `checkpoint` to `path` atomically (local paths; others go to Lightning's)."""
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_write(Path(path), lambda handle: torch.save(checkpoint, handle))
