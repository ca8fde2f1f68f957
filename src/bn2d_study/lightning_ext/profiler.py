"""`NullProfiler`: Lightning's "no profiler", through its public Profiler API, cheaper."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from lightning.pytorch.profilers import PassThroughProfiler

_NO_OP = nullcontext()


class NullProfiler(PassThroughProfiler):
    """Profiles nothing, like Lightning's default `PassThroughProfiler`, but cheaper.

    Lightning wraps its loops' steps in `profiler.profile(...)` too; the default profiler
    answers with a fresh generator-based context manager each time, this one returns one
    shared `nullcontext`. Set `trainer.profiler=simple` (or `advanced`, `pytorch`) to profile.
    """

    def profile(self, action_name: str) -> AbstractContextManager[None]:  # type: ignore[override]
        """A context manager that does nothing."""
        return _NO_OP
