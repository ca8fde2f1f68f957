"""Numbers for "a smoother descent": how straight a path of sampled weights is."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def _moves(points: ArrayLike) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"a path is an (N, D) array of points; got shape {array.shape}")
    return np.diff(array, axis=0)


def tortuosity(points: ArrayLike) -> float:
    """Path length over net displacement: 1 for a straight line, larger the more it wanders.

    NaN for fewer than two points; infinite when the path ends where it started.
    """
    moves = _moves(points)
    if len(moves) == 0:
        return math.nan
    length = float(np.linalg.norm(moves, axis=1).sum())
    displacement = float(np.linalg.norm(moves.sum(axis=0)))
    if displacement == 0.0:
        return math.inf if length > 0 else math.nan
    return length / displacement


def mean_turning_angle(points: ArrayLike) -> float:
    """Mean angle in degrees between successive moves: 0 for a straight line, 180 for reversals.

    Moves of zero length have no direction and are skipped; NaN when fewer than two remain.
    """
    moves = _moves(points)
    moves = moves[np.linalg.norm(moves, axis=1) > 0]
    if len(moves) < 2:
        return math.nan
    unit = moves / np.linalg.norm(moves, axis=1, keepdims=True)
    cosines = np.clip((unit[:-1] * unit[1:]).sum(axis=1), -1.0, 1.0)
    return float(np.degrees(np.arccos(cosines)).mean())
