"""Peak memory of a block of code: resident memory on the host, allocated memory on a GPU."""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

import torch

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """This process's resident set size (Linux `/proc/self/statm`)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE_BYTES


class PeakMemory:
    """Context manager: the peak memory above what was in use when the block started.

    On the host, a thread samples the resident set size every `interval_s` (the OS keeps only
    the lifetime peak, which cannot be reset); on a CUDA device, torch's allocator peak is used.
    Read `peak_mib` after the block.
    """

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.005) -> None:
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self._baseline = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, resident_bytes())
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._baseline = torch.cuda.memory_allocated(self.device)
        else:
            self._baseline = self._peak = resident_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            peak = max(self._peak, resident_bytes())
        self.peak_mib = (peak - self._baseline) / 2**20
