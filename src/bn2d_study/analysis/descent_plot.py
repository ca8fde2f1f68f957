"""The study's figure 3: the path of two sampled weights against the train loss, in 3D."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: runs on clusters and CI without a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.axes3d import Axes3D


def draw_descent_path(
    ax: Axes3D,
    weight_1: Sequence[float],
    weight_2: Sequence[float],
    train_loss: Sequence[float],
    title: str = "",
) -> None:
    """Draw one point per epoch and an arrow from each epoch to the next onto a 3D axes."""
    x, y, z = (np.asarray(v, dtype=float) for v in (weight_1, weight_2, train_loss))
    ax.scatter(x, y, z, c=np.arange(len(x)), cmap="viridis", depthshade=False)
    if len(x) > 1:
        ax.quiver(
            x[:-1],
            y[:-1],
            z[:-1],
            np.diff(x),
            np.diff(y),
            np.diff(z),
            arrow_length_ratio=0.15,
            color="tab:red",
            linewidth=1,
        )
    ax.set_xlabel("weight 1")
    ax.set_ylabel("weight 2")
    ax.set_zlabel("train loss")
    ax.set_title(title)


def descent_path_figure(
    weight_1: Sequence[float],
    weight_2: Sequence[float],
    train_loss: Sequence[float],
    title: str = "",
) -> Figure:
    """A figure with one 3D descent-path panel."""
    fig = plt.figure(figsize=(6, 5))
    draw_descent_path(fig.add_subplot(projection="3d"), weight_1, weight_2, train_loss, title)
    fig.tight_layout()
    return fig
