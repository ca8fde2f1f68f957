"""The study's three figures for any set of settings: accuracy, loss, and weight paths."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from bn2d_study.analysis.summary import SettingSummary, mean_curve
from bn2d_study.plots.descent_path import draw_descent_path


def curve_figure(settings: Sequence[SettingSummary], key: str, ylabel: str) -> Figure:
    """One line per setting: the mean across seeds, with a band of one standard deviation."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for setting in settings:
        mean, std = mean_curve(setting.runs, key)
        if not len(mean):
            continue
        epochs = np.arange(len(mean))
        (line,) = ax.plot(
            epochs, mean, marker=".", label=f"{setting.label} (n={len(setting.runs)})"
        )
        if np.isfinite(std).any():
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel}: mean across seeds, band = ±1 std")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def weight_paths_figure(settings: Sequence[SettingSummary]) -> Figure:
    """One 3D panel per setting: each seed's per-epoch path of the two sampled weights."""
    columns = min(3, max(1, len(settings)))
    rows = max(1, math.ceil(len(settings) / columns))
    fig = Figure(figsize=(5.2 * columns, 4.6 * rows))
    colors = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown")
    for index, setting in enumerate(settings):
        ax = fig.add_subplot(rows, columns, index + 1, projection="3d")
        for run_index, run in enumerate(setting.runs):
            path = run.weight_path_epoch
            if len(path):
                draw_descent_path(
                    ax, path[:, 0], path[:, 1], path[:, 2], setting.label, colors[run_index % 6]
                )
        if not setting.runs:
            ax.set_title(f"{setting.label}\n(no completed run)", fontsize=10)
    fig.tight_layout()
    return fig
