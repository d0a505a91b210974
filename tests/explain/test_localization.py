"""Localization scores on hand-made maps: tiles by pixel
centre, exact energy shares, baselines, fault windows."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.explain.localization import (
    centre_bias_maps,
    energy_in_target,
    outscore_probability,
    peak_in_window_rate,
    peak_tiles,
    pointing_game,
    random_maps,
    random_peak_rate,
    tile_index_grid,
    tile_value_maps,
)


def test_tiles_by_pixel_centre_and_peaks():
    np.testing.assert_array_equal(tile_index_grid((3, 3), (3, 3)), np.arange(9).reshape(3, 3))
    grid = tile_index_grid((10, 10), (3, 3))  # not divisible: pixel centres decide
    assert (
        grid[2, 2] == 0
        and grid[2, 3] == 1
        and grid[3, 3] == 4
        and grid[6, 6] == 4
        and grid[7, 9] == 8
    )
    maps = np.zeros((3, 9, 9))
    maps[0, 0, 8] = 1  # tile 2
    maps[1, 5, 4] = 1  # tile 4
    maps[2, 8, 0] = 1  # tile 6
    np.testing.assert_array_equal(peak_tiles(maps, (3, 3)), [2, 4, 6])
    np.testing.assert_array_equal(pointing_game(maps, np.array([2, 5, -1]), (3, 3)), [True, False])


def test_energy_share_is_exact():
    maps = np.zeros((3, 6, 6))
    maps[0, :2, :2] = 1.0  # all mass in tile 0
    maps[0, 4:, 4:] = -5.0  # negative evidence does not count
    maps[1] = 1.0  # even: 1/9 in any tile
    maps[2, :2, :2], maps[2, 2:4, 2:4] = 3.0, 1.0  # 3/4 in tile 0, 1/4 in tile 4
    np.testing.assert_allclose(
        energy_in_target(maps, np.array([0, 7, 4]), (3, 3)), [1.0, 1 / 9, 0.25]
    )
    np.testing.assert_allclose(
        energy_in_target(-np.ones((1, 6, 6)), np.array([3]), (3, 3)), [1 / 9]
    )
    assert energy_in_target(maps, np.array([-1, -1, -1]), (3, 3)).shape == (0,)


def test_baselines_chance_and_centre():
    target = np.random.default_rng(0).integers(0, 9, 5000)
    hits = pointing_game(random_maps(5000, (9, 9), seed=1), target, (3, 3))
    assert hits.mean() == pytest.approx(1 / 9, abs=0.015)
    centre = centre_bias_maps(4, (90, 90))
    np.testing.assert_array_equal(peak_tiles(centre, (3, 3)), [4, 4, 4, 4])
    np.testing.assert_array_equal(
        pointing_game(centre, np.array([4, 0, 8, 4]), (3, 3)), [True, False, False, True]
    )
    assert energy_in_target(centre[:1], np.array([4]), (3, 3))[0] > 1 / 9
    values = np.arange(9.0).reshape(1, 3, 3)
    np.testing.assert_array_equal(peak_tiles(tile_value_maps(values, (30, 30)), (3, 3)), [8])
    np.testing.assert_array_equal(peak_tiles(tile_value_maps(-values, (30, 30)), (3, 3)), [0])


def test_outscore_probability_exact_values():
    functional = [0.4, 0.1, 0.3, 0.2]
    result = outscore_probability([0.35, 0.05, 0.9, 0.3], functional, n_others=2)
    np.testing.assert_allclose(result, [0.75**2, 0.0, 1.0, 0.5**2])  # ties do not count as beating
    with pytest.raises(ValueError, match="functional"):
        outscore_probability([0.5], [], n_others=8)


def test_peak_rate_and_random_baseline():
    maps = np.zeros((3, 10))
    maps[0, 2] = maps[1, 9] = maps[2, 5] = 1
    windows = np.array([[1, 4], [0, 5], [-1, -1]])
    assert peak_in_window_rate(maps, windows) == 0.5  # the normal run is skipped
    assert random_peak_rate(windows, 10) == pytest.approx((3 / 10 + 5 / 10) / 2)
    with pytest.raises(ValueError):
        peak_in_window_rate(maps[2:], windows[2:])
