"""Moved: the benchmark is `python -m benchmarks.bench` (or `make bench`), outside the package."""

import sys

if __name__ == "__main__":
    sys.exit(
        "python -m bn2d_study.bench moved to `python -m benchmarks.bench` (`make bench`), run "
        "from the repository's root; its variants now time whole runs (docs/performance.md)."
    )
