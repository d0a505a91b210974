"""Shortcuts from CAMs alone: detection of a repeated
dominant pattern, removal, labels worth a second look."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.explain.cam import contrast_cams
from helpers.explain.shortcuts import (
    detect_spurious_regions,
    out_of_fold_probabilities,
    precision_recall,
    remove_regions,
    suspicious_labels,
)


def test_detection_finds_the_repeated_dominant_pattern_without_being_told_where():
    rng = np.random.default_rng(1)
    n, grid, channels = 200, 5, 16
    maps = rng.uniform(0, 1, (n, grid, grid, channels)).astype(np.float32)
    truth = rng.uniform(size=n) < 0.3
    corners = rng.integers(0, 2, (n, 2)) * (grid - 1)
    pattern = np.zeros(channels, np.float32)
    pattern[:3] = 8.0
    maps[np.flatnonzero(truth), corners[truth, 0], corners[truth, 1]] += pattern
    kernel = np.zeros((channels, 2), np.float32)
    kernel[:, 1] = rng.normal(0, 0.2, channels)
    kernel[:3, 1] += 1.0
    cams = contrast_cams(maps, kernel, 1)
    detection = detect_spurious_regions(
        maps, cams, n_clusters=6, mask_size=grid, dilate=0, random_state=0
    )
    assert precision_recall(detection.flagged, truth) == (1.0, 1.0)
    flagged = np.flatnonzero(detection.flagged)
    assert (detection.masks[flagged, corners[flagged, 0], corners[flagged, 1]] == 1).all()
    assert detection.masks[~detection.flagged].sum() == 0
    assert detection.peak_counts((grid, grid)).sum() == n


def test_precision_recall_exact():
    assert precision_recall([1, 1, 0, 0], [1, 0, 1, 0]) == (0.5, 0.5)
    precision, recall = precision_recall([0, 0], [1, 0])
    assert np.isnan(precision) and recall == 0.0


def test_remove_regions_mean_fill_is_exact_and_inpaint_stays_local():
    images = np.zeros((2, 40, 40), np.uint8)
    images[:, :, 20:] = 200
    masks = np.zeros((2, 4, 4), np.float32)
    masks[0, 0, 0] = 1  # the top-left 10x10 pixels of image 0
    filled = remove_regions(images, masks, "mean")
    assert (filled[0, :10, :10] == 100).all() and np.array_equal(filled[0, 10:], images[0, 10:])
    assert np.array_equal(filled[1], images[1])
    inpainted = remove_regions(images, masks, "inpaint")
    assert np.array_equal(inpainted[0, 12:], images[0, 12:]) and np.array_equal(
        inpainted[1], images[1]
    )
    with pytest.raises(ValueError, match="method"):
        remove_regions(images, masks, "blur")


def test_suspicious_labels_needs_candidates_confidence_and_cam_evidence():
    probabilities = np.array([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    labels = np.array([0, 0, 0, 0, 1])
    candidates = np.array([True, True, False, True, True])
    ratio = np.array([5.0, 1.0, 5.0, 5.0, 1.0])
    flagged = suspicious_labels(
        probabilities, labels, ratio, candidates, min_confidence=0.8, min_peak_ratio=3.0
    )
    assert flagged.tolist() == [True, False, False, False, True]


def test_out_of_fold_probabilities_cover_every_image(shortcut_maps):
    from sklearn.linear_model import LogisticRegression

    maps, labels = shortcut_maps(n=60)
    seen = []

    def fit_predict(X_fit, y_fit, X_held):
        seen.append(len(X_held))
        return (
            LogisticRegression(max_iter=1000)
            .fit(X_fit.reshape(len(X_fit), -1), y_fit)
            .predict_proba(X_held.reshape(len(X_held), -1))
        )

    probabilities = out_of_fold_probabilities(fit_predict, maps, labels, folds=3)
    assert probabilities.shape == (60, 2) and sorted(seen) == [20, 20, 20]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(1) == labels).mean() > 0.9  # the shortcut is learnable out of fold


def test_shortcut_scores_average_heads_and_give_the_spread_of_the_decorrelated_accuracy():
    from helpers.explain.shortcuts import shortcut_scores
    from helpers.models.gap import build_gap_head

    labels = np.array([0, 0, 1, 1])
    maps = np.zeros((4, 2, 2, 2), np.float32)
    # each image's evidence for its own class, in the top-left cell
    maps[np.arange(4), 0, 0, labels] = 4.0
    test_maps = {"clean": maps, "decorrelated": maps}
    masks = np.zeros((4, 2, 2), np.float32)
    masks[:, 0, 0] = 1
    right, wrong = build_gap_head((2, 2, 2), 2), build_gap_head((2, 2, 2), 2)
    right.get_layer("classifier").set_weights(
        [np.eye(2, dtype=np.float32), np.zeros(2, np.float32)]
    )
    wrong.get_layer("classifier").set_weights(
        [np.eye(2, dtype=np.float32)[::-1], np.zeros(2, np.float32)]
    )
    one = shortcut_scores(right, test_maps, labels, masks, target_class=1)
    assert (
        one["clean accuracy"] == one["decorrelated accuracy"] == 1.0
        and one["decorrelated spread"] == 0.0
    )
    both = shortcut_scores([right, wrong], test_maps, labels, masks, target_class=1)
    assert both["decorrelated accuracy"] == 0.5 and both["decorrelated spread"] == 1.0
    alone = shortcut_scores(wrong, test_maps, labels, masks, target_class=1)
    assert both["CAM energy on stamp"] == pytest.approx(
        (one["CAM energy on stamp"] + alone["CAM energy on stamp"]) / 2
    )
