"""Mosaics of images: exact layouts, one target at the recorded tile, reproducible draws."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.mosaics import Mosaics, make_mosaics, outline_tiles, render_mosaics, resize_cells
from helpers.explain.localization import tile_means


def cell_pool(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    probabilities = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], n, p=[0.55, 0.1, 0.05, 0.3])
    groups = rng.choice(["mono", "poly"], n)
    return probabilities, groups


def test_mosaics_hold_one_defect_at_the_target_and_only_functional_cells_elsewhere():
    probabilities, groups = cell_pool()
    indices = np.arange(0, 200, 2)  # e.g. the training half
    mosaics = make_mosaics(
        probabilities == 1.0,
        probabilities == 0.0,
        indices,
        60,
        groups=groups,
        positive_fraction=0.4,
        seed=3,
    )
    assert len(mosaics) == 60 and mosaics.grid == (3, 3) and mosaics.labels.sum() == 24
    for cells, label, target, group in zip(
        mosaics.cells, mosaics.labels, mosaics.target, mosaics.groups
    ):
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
    a = make_mosaics(
        np.isin(np.round(probabilities * 3), [2, 3]),
        probabilities == 0.0,
        np.arange(400),
        900,
        groups=groups,
        positive_fraction=1.0,
        seed=7,
    )
    b = make_mosaics(
        np.isin(np.round(probabilities * 3), [2, 3]),
        probabilities == 0.0,
        np.arange(400),
        900,
        groups=groups,
        positive_fraction=1.0,
        seed=7,
    )
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
        make_mosaics(probabilities == 1.0, probabilities == 0.0, np.arange(10), 4)


def test_render_lays_tiles_row_by_row():
    # tile k is all k
    tiles = np.arange(6, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    mosaics = Mosaics(
        np.array([[[0, 1, 2], [3, 4, 5]], [[5, 4, 3], [2, 1, 0]]]),
        np.array([1, 0]),
        np.array([2, -1]),
        np.array(["a", "a"]),
    )
    images = render_mosaics(tiles, mosaics)
    assert images.shape == (2, 4, 6)
    np.testing.assert_array_equal(images[0, ::2, ::2], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(images[1, 1::2, 1::2], [[5, 4, 3], [2, 1, 0]])
    rgb = render_mosaics(np.repeat(tiles[..., None], 3, axis=-1), mosaics, [1])
    assert rgb.shape == (1, 4, 6, 3)
    np.testing.assert_array_equal(rgb[0, ..., 0], images[1])
    np.testing.assert_allclose(
        tile_means(images, (2, 3)), [[[0, 1, 2], [3, 4, 5]], [[5, 4, 3], [2, 1, 0]]]
    )
    assert resize_cells(np.zeros((3, 10, 10), np.uint8), 4).shape == (3, 4, 4)


def test_outline_marks_borders_and_the_target():
    picture = outline_tiles(np.zeros((90, 90), np.uint8), (3, 3), highlight=4)
    assert picture.shape == (90, 90, 3) and picture.dtype == np.uint8
    assert tuple(picture[30, 10]) == (255, 255, 255)  # a border line
    assert tuple(picture[10, 10]) == (0, 0, 0)  # inside tile 0
    # the target tile's frame is green
    assert picture[31:60, 30].any() and picture[45, 30, 1] == 255
