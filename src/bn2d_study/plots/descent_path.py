"""The study's figure 3: the path of two sampled weights against the train loss, in 3D."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import ScalarFormatter
from mpl_toolkits.mplot3d import proj3d
from mpl_toolkits.mplot3d.axes3d import Axes3D


class Arrow3D(FancyArrowPatch):
    """An arrow between two 3D points, drawn in screen space.

    `Axes3D.quiver` sizes arrow heads in data units, which breaks when the weights move by
    1e-3 while the loss moves by 1; projecting first keeps every head the same size.
    """

    def __init__(self, start: Sequence[float], end: Sequence[float], **kwargs: Any) -> None:
        super().__init__((0, 0), (0, 0), **kwargs)
        self._xyz = np.array([start, end], dtype=float)

    def do_3d_projection(self, renderer: Any = None) -> float:
        """Project both ends with the axes' current view (called by matplotlib when drawing)."""
        xs, ys, zs = proj3d.proj_transform(*self._xyz.T, self.axes.M)
        self.set_positions((xs[0], ys[0]), (xs[1], ys[1]))
        return float(np.min(zs))


def draw_descent_path(
    ax: Axes3D,
    weight_1: Sequence[float],
    weight_2: Sequence[float],
    train_loss: Sequence[float],
    title: str = "",
    arrow_color: str = "tab:red",
) -> None:
    """Draw one point per epoch and an arrow from each epoch to the next onto a 3D axes.

    Records that are not finite (a diverged run) are left out.
    """
    points = np.column_stack([np.asarray(v, dtype=float) for v in (weight_1, weight_2, train_loss)])
    # A diverged run has NaN or infinite records, which matplotlib cannot place.
    points = points[np.isfinite(points).all(axis=1)]
    ax.scatter(*points.T, c=np.arange(len(points)), cmap="viridis", depthshade=False, s=18)
    for start, end in itertools.pairwise(points):
        ax.add_artist(Arrow3D(start, end, arrowstyle="-|>", mutation_scale=10, color=arrow_color))
    for axis in (ax.xaxis, ax.yaxis):
        # Full tick values instead of a shared offset text that overlaps the axis label.
        axis.set_major_formatter(ScalarFormatter(useOffset=False))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("weight 1", labelpad=12)
    ax.set_ylabel("weight 2", labelpad=12)
    ax.set_zlabel("train loss")
    ax.set_title(title, fontsize=10)


def descent_path_figure(
    weight_1: Sequence[float],
    weight_2: Sequence[float],
    train_loss: Sequence[float],
    title: str = "",
) -> Figure:
    """A figure with one 3D descent-path panel.

    A bare `Figure` (no pyplot): no global backend state, nothing to close, safe off-screen.
    """
    fig = Figure(figsize=(6, 5))
    draw_descent_path(fig.add_subplot(projection="3d"), weight_1, weight_2, train_loss, title)
    fig.tight_layout()
    return fig
