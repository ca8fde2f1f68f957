"""A network of the tests' own, plugged in by config only (docs/adapt.md, recipe 2)."""

from __future__ import annotations

from torch import nn


def small_mlp(use_batchnorm: bool, hidden: int = 64, num_classes: int = 10) -> nn.Sequential:
    """Flatten, Linear, (BatchNorm1d), ReLU, Linear: the study's switch on another network."""
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(32 * 32, hidden)]
    if use_batchnorm:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(), nn.Linear(hidden, num_classes)]
    return nn.Sequential(*layers)
