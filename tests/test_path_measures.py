"""Tortuosity and turning angle on paths whose answers are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bn2d_study.report.path_measures import mean_turning_angle, tortuosity


def test_straight_line_has_tortuosity_one_and_no_turning() -> None:
    line = np.outer(np.arange(6.0), [0.3, -0.2])
    assert tortuosity(line) == pytest.approx(1.0)
    assert mean_turning_angle(line) == pytest.approx(0.0, abs=1e-6)


def test_right_angle_staircase() -> None:
    # (0,0) -> (1,0) -> (1,1) -> (2,1): length 3, displacement sqrt(5), turns of 90 degrees.
    stairs = [[0, 0], [1, 0], [1, 1], [2, 1]]
    assert tortuosity(stairs) == pytest.approx(3 / math.sqrt(5))
    assert mean_turning_angle(stairs) == pytest.approx(90.0)


def test_going_back_and_forth_turns_180_degrees_and_returning_home_is_infinitely_tortuous() -> None:
    zigzag = [[0, 0], [1, 0], [0, 0]]
    assert mean_turning_angle(zigzag) == pytest.approx(180.0)
    assert tortuosity(zigzag) == math.inf


def test_paths_that_do_not_move_have_no_measure() -> None:
    still = [[0.5, 0.5]] * 4  # a weight whose gradient is always zero (a dead ReLU filter)
    assert math.isnan(tortuosity(still))
    assert math.isnan(mean_turning_angle(still))
    assert math.isnan(tortuosity([[1.0, 2.0]]))


def test_a_path_must_be_a_list_of_points() -> None:
    with pytest.raises(ValueError, match="shape"):
        tortuosity([1.0, 2.0, 3.0])
