"""`RandomStates`: checkpoints carry the random generators, so a resumed run draws alike."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning import Callback


class RandomStates(Callback):
    """Save the python, numpy and torch (CPU and CUDA) random states in every checkpoint.

    Restored when training resumes from the checkpoint, so the next epoch's shuffle (drawn from
    torch's global generator) is the one the uninterrupted run would have drawn: a resumed run
    ends with the same results. States are stored as tensors and plain lists, which checkpoints
    loaded with `weights_only=True` accept.
    """

    def state_dict(self) -> dict[str, Any]:
        """The generators' current states."""
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "python": [version, list(internal), gauss_next],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put the generators back where they were when the checkpoint was written."""
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        kind, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        version, internal, gauss_next = state_dict["python"]
        random.setstate((version, tuple(internal), gauss_next))
