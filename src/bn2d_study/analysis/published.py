"""The study's published numbers (seed 5842, batch 32), to set a reproduction beside them."""

from __future__ import annotations

# epoch -> (no-BN train loss, no-BN test acc, BN train loss, BN test acc); None: not published.
PUBLISHED_EPOCHS: dict[int, tuple[float | None, float, float | None, float]] = {
    0: (2.118166, 0.816000, 0.629183, 0.940333),
    1: (0.513233, 0.900667, 0.213117, 0.964000),
    2: (0.275158, 0.914667, 0.143794, 0.973000),
    3: (0.235627, 0.869667, 0.111893, 0.979333),
    4: (0.214261, 0.929667, 0.092034, 0.982000),
    29: (None, 0.9240, None, 0.9913),
}
PUBLISHED_SEED = 5842
