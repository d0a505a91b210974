"""Image files and arrays: decoding, grayscale to RGB, square resizing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class UnreadableImageError(ValueError):
    """An image file could not be decoded."""


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 grayscale (H, W) or RGB (H, W, 3); 16-bit is scaled to
    8-bit."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise UnreadableImageError(f"{path} is not a readable image")
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


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
    return cv2.resize(
        rgb, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
