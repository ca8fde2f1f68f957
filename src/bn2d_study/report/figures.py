"""The report's figures: the study's three for any set of settings, the loss landscape over
training, and accuracy against a swept key."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from bn2d_study.plots.descent_path import draw_descent_path
from bn2d_study.report.summary import (
    LANDSCAPE_KEYS,
    SettingSummary,
    SweepGroup,
    final_accuracies,
    format_value,
    mean_curve,
)


def spans_decades(values: Sequence[float], factor: float) -> bool:
    """Whether the finite values are all positive and the largest is `factor` times the
    smallest or more: the rule for a logarithmic axis."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) >= factor * min(finite)


def draw_curves(ax: Axes, settings: Sequence[SettingSummary], key: str, ylabel: str) -> None:
    """One line per setting: the mean across seeds, with a band of one standard deviation."""
    for setting in settings:
        mean, std = mean_curve(setting.runs, key)
        if not len(mean) or not np.isfinite(mean).any():
            continue
        epochs = np.arange(len(mean))
        (line,) = ax.plot(
            epochs, mean, marker=".", label=f"{setting.label} (n={len(setting.runs)})"
        )
        if np.isfinite(std).any():
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)


def curve_figure(settings: Sequence[SettingSummary], key: str, ylabel: str) -> Figure:
    """A per-epoch metric, one line per setting (mean across seeds, band = ±1 std)."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    draw_curves(ax, settings, key, ylabel)
    ax.set_title(f"{ylabel}: mean across seeds, band = ±1 std")
    fig.tight_layout()
    return fig


def landscape_figure(settings: Sequence[SettingSummary]) -> Figure:
    """The loss-landscape probe's three measures over training, one panel each."""
    fig = Figure(figsize=(15, 4.2))
    for index, key in enumerate(LANDSCAPE_KEYS):
        ax = fig.add_subplot(1, len(LANDSCAPE_KEYS), index + 1)
        draw_curves(ax, settings, key, key.split("/", 1)[1])
        ax.set_title(f"{key} (epoch mean; mean across seeds ±1 std)", fontsize=9)
        plotted = [y for line in ax.lines for y in np.asarray(line.get_ydata(), dtype=float)]
        if spans_decades(plotted, 100):
            ax.set_yscale("log")  # settings can differ by orders of magnitude
    fig.tight_layout()
    return fig


def sweep_figure(groups: Sequence[SweepGroup], key_label: str) -> Figure:
    """Final test accuracy against a swept key: per group the mean across seeds, its 95%
    interval (clipped to [0, 1]) and each run's value; a value where runs diverged is marked
    with how many (x at the bottom when none of its runs completed). The right panel zooms in
    on the values within 0.05 of the best mean, where settings that trained well differ."""
    fig = Figure(figsize=(12, 4.5))
    full, zoom = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    values = [v.value for g in groups for v in g.values]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    order = sorted({format_value(v) for v in values})  # positions of non-numeric values
    logarithmic = numeric and spans_decades(values, 10)
    # Per group, once for both panels: x positions, means, the clipped interval, each run.
    drawn = []
    for group in groups:
        xs = [v.value if numeric else order.index(format_value(v.value)) for v in group.values]
        finals = [v.setting.final_acc for v in group.values]
        means = np.array([f.mean for f in finals])
        low = np.array([max(f.ci_low, 0.0) if f.n > 1 else f.mean for f in finals])
        high = np.array([min(f.ci_high, 1.0) if f.n > 1 else f.mean for f in finals])
        runs = [list(final_accuracies(v.setting).values()) for v in group.values]
        drawn.append((group, xs, means, low, high, runs))
    means_seen = [m for _, _, means, _, _, _ in drawn for m in means if math.isfinite(m)]
    for ax in (full, zoom):
        bottom = blended_transform_factory(ax.transData, ax.transAxes)
        for group, xs, means, low, high, runs in drawn:
            shown = np.isfinite(means)
            container = ax.errorbar(
                np.array(xs)[shown],
                means[shown],
                yerr=[(means - low)[shown], (high - means)[shown]],
                marker="o",
                capsize=3,
                label=group.label,
            )
            color = container.lines[0].get_color()
            for x, accuracies in zip(xs, runs, strict=True):
                xs_of_runs = [x] * len(accuracies)
                ax.plot(xs_of_runs, accuracies, ".", color=color, alpha=0.5, markersize=5)
            for x, value, mean in zip(xs, group.values, means, strict=True):
                if not value.diverged:
                    continue
                text = f"{value.diverged}/{value.runs} diverged"
                if math.isfinite(mean):
                    ax.annotate(
                        text,
                        (x, mean),
                        fontsize=7,
                        color=color,
                        xytext=(4, -10),
                        textcoords="offset points",
                    )
                else:
                    ax.plot([x], [0.03], "x", color=color, transform=bottom, markersize=9)
                    ax.annotate(text, (x, 0.06), xycoords=bottom, fontsize=7, color=color)
        if logarithmic:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(order)), order)
        ax.set_xlabel(key_label)
        ax.set_ylabel("final test accuracy")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    full.set_title(f"final test accuracy against {key_label}: mean, 95% CI, runs", fontsize=10)
    if means_seen:
        best = max(means_seen)
        near = [m for m in means_seen if m >= best - 0.05]
        zoom.set_ylim(min(near) - 0.005, min(best + 0.005, 1.0))
    zoom.set_title("the same, near the best mean", fontsize=10)
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
