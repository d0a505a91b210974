"""Maps as pictures and measurements: upsampling, min-max
scaling, correlation, overlays, energy in a region, peakiness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers.explain.heatmaps import (
    cam_energy_share,
    map_correlation,
    normalize_maps,
    overlay,
    peak_ratio,
    upsample_maps,
)


def test_upsample_normalize_and_correlation_values():
    maps = np.zeros((2, 3, 3), "float32")
    maps[0, 0, 2] = 1.0
    maps[1] = 5.0
    big = upsample_maps(maps, (30, 60))
    assert big.shape == (2, 30, 60)
    y, x = np.unravel_index(big[0].argmax(), big[0].shape)
    assert y < 10 and x >= 40  # the top-right cell stays top-right
    np.testing.assert_allclose(big[1], 5.0)
    assert upsample_maps(np.arange(8, dtype="float32").reshape(2, 4), 16).shape == (2, 16)

    unit = normalize_maps(np.array([[[-2.0, 0.0], [2.0, 6.0]], [[3.0, 3.0], [3.0, 3.0]]]))
    np.testing.assert_allclose(unit[0], [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(unit[1], 0.0)
    np.testing.assert_allclose(
        normalize_maps(np.array([[-2.0, 0.0, 1.0, 2.0]]), clip_negative=True),
        [[0.0, 0.0, 0.5, 1.0]],
    )

    a = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    r = map_correlation(a, np.array([[2.0, 4.0, 6.0], [0.0, 1.0, 2.0]]))
    assert r[0] == pytest.approx(1.0) and np.isnan(r[1])
    assert map_correlation(a[:1], -a[:1])[0] == pytest.approx(-1.0)


def test_overlay_blends_an_rgb_picture():
    image = np.full((40, 50), 100, dtype=np.uint8)
    cam = np.zeros((5, 5), "float32")
    cam[0, 0] = 3.0
    picture = overlay(image, cam, alpha=0.5)
    assert picture.shape == (40, 50, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(
        overlay(image, cam, alpha=0.0), np.repeat(image[..., None], 3, axis=-1)
    )
    jet = overlay(image, np.ones((5, 5), "float32"), alpha=1.0)
    hottest = cv2.cvtColor(
        cv2.applyColorMap(np.uint8([[255]]), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
    )[0, 0]
    np.testing.assert_array_equal(jet[0, 0], hottest)
    assert picture[0, 0, 0] > picture[-1, -1, 0]  # red (hot) at the evidence, blue-ish far from it
    with pytest.raises(ValueError):
        overlay(image, np.zeros((2, 5, 5)))


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
    # upsampled to the masks
    assert cam_energy_share(cams[:1], np.kron(masks[:1], np.ones((1, 2, 2))))[0] > 0.3


def test_peak_ratio_exact():
    cams = np.zeros((2, 2, 2))
    cams[0, 0, 0] = 4.0
    cams[1] = 1.0
    assert peak_ratio(cams) == pytest.approx([4.0, 1.0], rel=1e-6)
