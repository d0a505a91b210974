"""Mosaics of cells and the localization scores: exact layouts and exact scores on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.mosaics import (
    Mosaics,
    centre_bias_maps,
    energy_in_target,
    make_mosaics,
    outline_tiles,
    peak_tiles,
    pointing_game,
    random_maps,
    render_mosaics,
    resize_cells,
    tile_index_grid,
    tile_means,
    tile_value_maps,
)


def cell_pool(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    probabilities = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], n, p=[0.55, 0.1, 0.05, 0.3])
    groups = rng.choice(["mono", "poly"], n)
    return probabilities, groups


def test_mosaics_hold_one_defect_at_the_target_and_only_functional_cells_elsewhere():
    probabilities, groups = cell_pool()
    indices = np.arange(0, 200, 2)  # e.g. the training half
    mosaics = make_mosaics(probabilities, indices, 60, groups=groups, positive_fraction=0.4, seed=3)
    assert len(mosaics) == 60 and mosaics.grid == (3, 3) and mosaics.labels.sum() == 24
    for cells, label, target, group in zip(mosaics.cells, mosaics.labels, mosaics.target, mosaics.groups):
        flat = cells.reshape(-1)
        assert set(flat) <= set(indices)
        assert len(set(flat)) == 9  # no cell twice in one mosaic
        assert np.all(groups[flat] == group)  # one module type per mosaic
        if label:
            assert 0 <= target < 9 and probabilities[flat[target]] == 1.0
            assert np.all(np.delete(probabilities[flat], target) == 0.0)
        else:
            assert target == -1 and np.all(probabilities[flat] == 0.0)


def test_mosaics_are_reproducible_and_place_defects_everywhere():
    probabilities, groups = cell_pool(400)
    a = make_mosaics(probabilities, np.arange(400), 900, groups=groups, positive_fraction=1.0, defect_probabilities=(2 / 3, 1.0), seed=7)
    b = make_mosaics(probabilities, np.arange(400), 900, groups=groups, positive_fraction=1.0, defect_probabilities=(2 / 3, 1.0), seed=7)
    np.testing.assert_array_equal(a.cells, b.cells)
    counts = np.bincount(a.target, minlength=9)
    assert counts.min() > 60  # about 100 per tile
    chosen = probabilities[a.cells.reshape(900, 9)[np.arange(900), a.target]]
    assert set(np.round(chosen * 3)) == {2, 3}
    sub = a.subset(a.target == 4)
    assert np.all(sub.target == 4) and len(sub) == counts[4]


def test_too_few_cells_raise():
    probabilities = np.array([0.0] * 5 + [1.0] * 5)
    with pytest.raises(ValueError, match="too few"):
        make_mosaics(probabilities, np.arange(10), 4)


def test_render_lays_tiles_row_by_row():
    tiles = np.arange(6, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)  # tile k is all k
    mosaics = Mosaics(np.array([[[0, 1, 2], [3, 4, 5]], [[5, 4, 3], [2, 1, 0]]]), np.array([1, 0]), np.array([2, -1]), np.array(["a", "a"]))
    images = render_mosaics(tiles, mosaics)
    assert images.shape == (2, 4, 6)
    np.testing.assert_array_equal(images[0, ::2, ::2], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(images[1, 1::2, 1::2], [[5, 4, 3], [2, 1, 0]])
    rgb = render_mosaics(np.repeat(tiles[..., None], 3, axis=-1), mosaics, [1])
    assert rgb.shape == (1, 4, 6, 3)
    np.testing.assert_array_equal(rgb[0, ..., 0], images[1])
    np.testing.assert_allclose(tile_means(images, (2, 3)), [[[0, 1, 2], [3, 4, 5]], [[5, 4, 3], [2, 1, 0]]])
    assert resize_cells(np.zeros((3, 10, 10), np.uint8), 4).shape == (3, 4, 4)


def test_tiles_by_pixel_centre_and_peaks():
    np.testing.assert_array_equal(tile_index_grid((3, 3), (3, 3)), np.arange(9).reshape(3, 3))
    grid = tile_index_grid((10, 10), (3, 3))  # not divisible: pixel centres decide
    assert grid[2, 2] == 0 and grid[2, 3] == 1 and grid[3, 3] == 4 and grid[6, 6] == 4 and grid[7, 9] == 8
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
    np.testing.assert_allclose(energy_in_target(maps, np.array([0, 7, 4]), (3, 3)), [1.0, 1 / 9, 0.25])
    np.testing.assert_allclose(energy_in_target(-np.ones((1, 6, 6)), np.array([3]), (3, 3)), [1 / 9])
    assert energy_in_target(maps, np.array([-1, -1, -1]), (3, 3)).shape == (0,)


def test_baselines_chance_and_centre():
    target = np.random.default_rng(0).integers(0, 9, 5000)
    hits = pointing_game(random_maps(5000, (9, 9), seed=1), target, (3, 3))
    assert hits.mean() == pytest.approx(1 / 9, abs=0.015)
    centre = centre_bias_maps(4, (90, 90))
    np.testing.assert_array_equal(peak_tiles(centre, (3, 3)), [4, 4, 4, 4])
    np.testing.assert_array_equal(pointing_game(centre, np.array([4, 0, 8, 4]), (3, 3)), [True, False, False, True])
    assert energy_in_target(centre[:1], np.array([4]), (3, 3))[0] > 1 / 9
    values = np.arange(9.0).reshape(1, 3, 3)
    np.testing.assert_array_equal(peak_tiles(tile_value_maps(values, (30, 30)), (3, 3)), [8])
    np.testing.assert_array_equal(peak_tiles(tile_value_maps(-values, (30, 30)), (3, 3)), [0])


def test_outline_marks_borders_and_the_target():
    picture = outline_tiles(np.zeros((90, 90), np.uint8), (3, 3), highlight=4)
    assert picture.shape == (90, 90, 3) and picture.dtype == np.uint8
    assert tuple(picture[30, 10]) == (255, 255, 255)  # a border line
    assert tuple(picture[10, 10]) == (0, 0, 0)  # inside tile 0
    assert picture[31:60, 30].any() and picture[45, 30, 1] == 255  # the target tile's frame is green


def test_outscore_probability_exact_values():
    from helpers.mosaics import outscore_probability

    functional = [0.4, 0.1, 0.3, 0.2]
    result = outscore_probability([0.35, 0.05, 0.9, 0.3], functional, n_others=2)
    np.testing.assert_allclose(result, [0.75**2, 0.0, 1.0, 0.5**2])  # ties do not count as beating
    with pytest.raises(ValueError, match="functional"):
        outscore_probability([0.5], [], n_others=8)
