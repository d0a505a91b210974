"""Tests of helpers.explain.shortcuts: CAMs from feature maps, CAM energy, detection, removal, guided training, relabeling."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.explain.shortcuts import (
    CamHead,
    cam_energy_share,
    cams_from_maps,
    contrast_cams,
    detect_spurious_regions,
    out_of_fold_probabilities,
    peak_ratio,
    precision_recall,
    predict_head,
    remove_regions,
    suspicious_labels,
    train_head,
)


def shortcut_maps(n: int = 240, grid: int = 4, channels: int = 8, seed: int = 0):
    """Feature maps where channel 0 at cell (0, 0) is a perfect shortcut and channel 1 (anywhere) a noisy real signal."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    maps = rng.uniform(0, 0.1, (n, grid, grid, channels)).astype(np.float32)
    maps[labels == 1, 0, 0, 0] += 6.0
    real = np.where(rng.uniform(size=n) < 0.85, labels, 1 - labels)
    cells = rng.integers(1, grid, (n, 2))  # the real signal is never under the shortcut
    maps[np.arange(n), cells[:, 0], cells[:, 1], 1] += 3.0 * real
    return maps, labels


def test_cams_average_to_the_logits_of_the_head():
    maps, labels = shortcut_maps(n=64)
    head, _ = train_head(maps, labels, epochs=2, class_weight=None)
    kernel, bias = (w for w in head.classifier.get_weights())
    logits = np.stack([cams_from_maps(maps, kernel, k).mean(axis=(1, 2)) for k in range(2)], axis=1) + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(predict_head(head, maps), expected, rtol=1e-4, atol=1e-5)
    per_image = cams_from_maps(maps, kernel, labels)
    np.testing.assert_allclose(per_image[labels == 1], cams_from_maps(maps, kernel, 1)[labels == 1], rtol=1e-5)
    np.testing.assert_allclose(contrast_cams(maps, kernel, 1), cams_from_maps(maps, kernel, 1) - cams_from_maps(maps, kernel, 0), rtol=1e-4, atol=1e-5)


def test_cam_energy_share_exact_values():
    masks = np.zeros((3, 4, 4), np.float32)
    masks[:, 0, 0] = 1
    cams = np.zeros((3, 4, 4), np.float32)
    cams[0, 0, 0] = 5.0  # all mass in the mask
    cams[1] = 1.0
    cams[1, 0, 0] = 0.0  # no mass in the mask once min-max scaled
    cams[2] = 2.0  # constant: no mass at all
    share = cam_energy_share(cams, masks)
    assert share[0] == pytest.approx(1.0) and share[1] == pytest.approx(0.0) and np.isnan(share[2])
    raw = cam_energy_share(cams, masks, normalize=False)
    assert raw[1] == pytest.approx(0.0) and raw[2] == pytest.approx(1 / 16)
    assert cam_energy_share(cams[:1], np.kron(masks[:1], np.ones((1, 2, 2))))[0] > 0.3  # upsampled to the masks


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
    detection = detect_spurious_regions(maps, cams, n_clusters=6, mask_size=grid, dilate=0, random_state=0)
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
    assert np.array_equal(inpainted[0, 12:], images[0, 12:]) and np.array_equal(inpainted[1], images[1])
    with pytest.raises(ValueError, match="method"):
        remove_regions(images, masks, "blur")


def test_guided_training_moves_evidence_off_the_masked_shortcut():
    maps, labels = shortcut_maps()
    masks = np.zeros(maps.shape[:3], np.float32)
    masks[:, 0, 0] = 1.0
    naive, _ = train_head(maps, labels, epochs=40, learning_rate=1e-2, class_weight=None, seed=0)
    guided, history = train_head(maps, labels, masks=masks, guided_weight=1.0, epochs=40, learning_rate=1e-2, class_weight=None, seed=0)
    assert "cam_penalty" in history.history
    energy = {name: np.nanmean(cam_energy_share(contrast_cams(maps, head.classifier.kernel.numpy(), 1), masks))
              for name, head in [("naive", naive), ("guided", guided)]}
    assert energy["guided"] < 0.5 * energy["naive"]
    # without the shortcut, only the real signal is left: the guided head must still use it
    test_maps, test_labels = shortcut_maps(seed=1)
    test_maps[:, 0, 0, 0] = 6.0  # shortcut on every image: says nothing
    accuracy = {name: (predict_head(head, test_maps).argmax(1) == test_labels).mean() for name, head in [("naive", naive), ("guided", guided)]}
    assert accuracy["guided"] > accuracy["naive"] + 0.1
    with pytest.raises(ValueError, match="masks"):
        train_head(maps, labels, guided_weight=1.0, epochs=1)


def test_cam_head_round_trips_its_config():
    head = CamHead(3, dropout=0.1, guided_weight=2.0)
    clone = CamHead.from_config(head.get_config())
    assert (clone.n_classes, clone.dropout_rate, clone.guided_weight) == (3, 0.1, 2.0)


def test_suspicious_labels_needs_candidates_confidence_and_cam_evidence():
    probabilities = np.array([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    labels = np.array([0, 0, 0, 0, 1])
    candidates = np.array([True, True, False, True, True])
    ratio = np.array([5.0, 1.0, 5.0, 5.0, 1.0])
    flagged = suspicious_labels(probabilities, labels, ratio, candidates, min_confidence=0.8, min_peak_ratio=3.0)
    assert flagged.tolist() == [True, False, False, False, True]
    cams = np.zeros((2, 2, 2))
    cams[0, 0, 0] = 4.0
    cams[1] = 1.0
    assert peak_ratio(cams) == pytest.approx([4.0, 1.0], rel=1e-6)


def test_out_of_fold_probabilities_cover_every_image():
    maps, labels = shortcut_maps(n=60)
    probabilities = out_of_fold_probabilities(maps, labels, folds=3, epochs=2, class_weight=None)
    assert probabilities.shape == (60, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_to_gap_classifier_carries_the_head_so_helpers_cam_gives_the_same_maps():
    import keras

    from helpers.explain.cam import class_activation_maps
    from helpers.explain.shortcuts import to_gap_classifier

    rng = np.random.default_rng(0)
    maps, labels = rng.uniform(0, 1, (16, 2, 2, 1280)).astype(np.float32), np.arange(16) % 2
    head, _ = train_head(maps, labels, epochs=1, class_weight=None)
    model = to_gap_classifier(head, 64, weights=None)
    images = rng.uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    backbone_maps = keras.Model(model.input, model.get_layer("gap").input)(images).numpy()
    expected = cams_from_maps(backbone_maps, head.classifier.kernel.numpy(), 1)
    np.testing.assert_allclose(class_activation_maps(model, images, class_index=1), expected, rtol=1e-4, atol=1e-4)
