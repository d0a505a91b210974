"""Tests of helpers.data.artifacts: the stamp, its boxes
and masks, and the confounded / test set builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.data.artifacts import (
    BOX_COLUMNS,
    artifact_boxes,
    artifact_test_sets,
    box_masks,
    confounded_set,
    confounding_rates,
    draw_marker,
    random_boxes,
    stamp_artifacts,
    stamp_choice,
)
from helpers.data.datasets import ImageDataset


def toy_dataset(n_per_class: int = 20, side: int = 64) -> ImageDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(100, 160, (2 * n_per_class, side, side), dtype=np.uint8)
    labels = np.repeat([0, 1], n_per_class)
    meta = pd.DataFrame({"level": labels * 3})
    return ImageDataset("toy", labels, ["functional", "defective"], meta, images=images)


def test_random_boxes_stay_inside_in_their_corner_and_repeat_with_the_seed():
    boxes = random_boxes(
        200, 300, size=0.2, size_jitter=0.1, offset=0.05, corners=("top_left",), random_state=3
    )
    sides = boxes[:, 2] - boxes[:, 0]
    assert np.array_equal(sides, boxes[:, 3] - boxes[:, 1])
    assert sides.min() >= 54 and sides.max() <= 66
    assert boxes[:, :2].min() >= 0 and boxes[:, :2].max() <= 15
    anywhere = random_boxes(400, 300, random_state=1)
    assert anywhere.min() >= 0 and anywhere[:, 2:].max() <= 300
    assert (
        (anywhere[:, 0] > 150).any()
        and (anywhere[:, 0] < 150).any()
        and (anywhere[:, 1] > 150).any()
    )
    assert np.array_equal(
        random_boxes(10, 300, random_state=5), random_boxes(10, 300, random_state=5)
    )
    with pytest.raises(ValueError, match="corner"):
        random_boxes(1, 300, corners=("middle",))


def test_draw_marker_changes_only_the_box_and_keeps_dtype():
    image = np.full((100, 100), 128, np.uint8)
    stamped = draw_marker(image, (10, 20, 40, 50), "R")
    assert stamped.dtype == np.uint8 and image.max() == 128  # the input is untouched
    outside = np.ones_like(image, bool)
    outside[20:50, 10:40] = False
    assert np.array_equal(stamped[outside], image[outside])
    inside = stamped[20:50, 10:40]
    assert inside.min() <= 30 and inside.max() >= 200  # dark frame, bright letter
    rgb = draw_marker(np.full((100, 100, 3), 128, np.uint8), (10, 20, 40, 50))
    assert rgb.shape == (100, 100, 3) and np.array_equal(rgb[..., 0], stamped)


def test_stamp_artifacts_returns_boxes_and_masks_of_the_stamped_images_only():
    images = np.full((4, 64, 64), 128, np.uint8)
    result = stamp_artifacts(images, np.array([True, False, True, False]), random_state=0)
    assert result.stamped.tolist() == [True, False, True, False]
    assert (result.boxes[[1, 3]] == -1).all()
    assert np.array_equal(result.images[[1, 3]], images[[1, 3]])
    masks = result.masks()
    assert masks.shape == (4, 64, 64) and masks[[1, 3]].sum() == 0
    for i in (0, 2):
        x0, y0, x1, y1 = result.boxes[i]
        assert masks[i].sum() == (x1 - x0) * (y1 - y0)
        changed = result.images[i] != images[i]
        assert changed[y0:y1, x0:x1].any() and changed.sum() == changed[y0:y1, x0:x1].sum()
    with pytest.raises(ValueError, match="square"):
        stamp_artifacts(np.zeros((2, 10, 12), np.uint8), np.array([True, False]))


def test_box_masks_give_the_covered_share_of_each_cell():
    boxes = np.array([[0, 0, 150, 150], [0, 0, 75, 75], [-1, -1, -1, -1]])
    masks = box_masks(boxes, 300, 2)
    assert masks[0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert masks[1].tolist() == [[0.25, 0.0], [0.0, 0.0]]
    assert masks[2].sum() == 0
    assert box_masks(boxes[:1], 300).sum() == 150 * 150


def test_stamp_choice_hits_the_rates_exactly():
    labels = np.repeat([0, 1], [30, 10])
    which = stamp_choice(labels, {1: 0.9, 0: 0.1}, random_state=0)
    assert which[labels == 1].sum() == 9 and which[labels == 0].sum() == 3
    assert np.array_equal(which, stamp_choice(labels, {1: 0.9, 0: 0.1}, random_state=0))
    with pytest.raises(ValueError):
        stamp_choice(labels, {1: 1.5})


def test_confounded_set_records_where_the_artifact_is():
    dataset = toy_dataset()
    indices = np.arange(5, 40)
    confounded = confounded_set(dataset, indices, {1: 0.9, 0: 0.1}, random_state=0)
    stamped = confounded.meta["artifact"].to_numpy()
    assert np.array_equal(confounded.labels, dataset.labels[indices])
    assert np.array_equal(confounded.meta["source_index"], indices)
    assert (
        stamped[confounded.labels == 1].sum() == 18 and stamped[confounded.labels == 0].sum() == 2
    )
    boxes = artifact_boxes(confounded)
    assert set(BOX_COLUMNS) <= set(confounded.meta.columns)
    assert (boxes[~stamped] == -1).all() and (boxes[stamped] >= 0).all()
    assert np.array_equal(confounded.images[~stamped], dataset.images[indices][~stamped])
    assert (confounded.images[stamped] != dataset.images[indices][stamped]).any(axis=(1, 2)).all()
    assert (artifact_boxes(dataset) == -1).all()  # a data set without artifacts


def test_artifact_test_sets_are_clean_decorrelated_and_reversed():
    dataset = toy_dataset()
    indices = np.arange(40)
    sets = artifact_test_sets(
        dataset, indices, confounding_rates(2, 1, 0.9, 0.1), 1, random_state=1
    )
    assert sorted(sets) == ["clean", "decorrelated", "reversed"]
    for test in sets.values():
        assert np.array_equal(test.labels, dataset.labels)
    assert not sets["clean"].meta["artifact"].any()
    assert np.array_equal(sets["clean"].images, dataset.images)
    assert sets["decorrelated"].meta["artifact"].all()
    reversed_ = sets["reversed"].meta["artifact"].to_numpy()
    assert reversed_[dataset.labels == 0].sum() == 18 and reversed_[dataset.labels == 1].sum() == 2
    with pytest.raises(ValueError, match="one training rate for every class but the target"):
        artifact_test_sets(dataset, indices, {1: 0.9}, 1)


def test_one_class_against_the_rest_of_several():
    rates = confounding_rates(4, 2, 0.8, 0.05)
    assert rates == {0: 0.05, 1: 0.05, 2: 0.8, 3: 0.05}
    labels = np.repeat(np.arange(4), 20)
    dataset = ImageDataset(
        "four",
        labels,
        list("abcd"),
        pd.DataFrame(index=range(80)),
        images=np.zeros((80, 32, 32), np.uint8),
    )
    sets = artifact_test_sets(dataset, np.arange(80), rates, 2, random_state=0)
    reversed_ = sets["reversed"].meta["artifact"].to_numpy()
    assert reversed_[labels == 2].sum() == 1 and all(
        reversed_[labels == c].sum() == 16 for c in (0, 1, 3)
    )
    with pytest.raises(ValueError, match="not one of the 4 classes"):
        confounding_rates(4, 4, 0.8, 0.05)
