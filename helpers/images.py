"""Small image utilities shared by the data sets, featurization and plots."""

from __future__ import annotations

import cv2
import numpy as np


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Return an (H, W, 3) view of a grayscale (H, W) / (H, W, 1) or RGB(A) image."""
    if image.ndim == 2:
        return np.repeat(image[..., np.newaxis], 3, axis=-1)
    if image.ndim == 3 and image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return image[..., :3]
    raise ValueError(f"expected a grayscale or RGB image, got shape {image.shape}")


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` RGB (bilinear, area when shrinking), keeping the dtype."""
    rgb = to_rgb(image)
    if rgb.shape[:2] == (size, size):
        return rgb
    shrinking = rgb.shape[0] > size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
