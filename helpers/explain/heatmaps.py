"""Maps as pictures and as measurements: upsampling, min-max
scaling, colour overlays, correlation, energy in a region."""

from __future__ import annotations

import cv2
import numpy as np

from helpers.data.images import to_rgb


def upsample_maps(maps: np.ndarray, size) -> np.ndarray:
    """Bilinear upsampling of a batch of maps: (N, h, w) to (N, H, W) or (N, t) to (N, T).

    ``size``: (H, W), an int (square for 2-D maps, length for 1-D maps).
    Cell centres keep their positions (half-pixel alignment, as cv2.resize).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        length = int(size if np.ndim(size) == 0 else size[0])
        out = [
            cv2.resize(m[:, np.newaxis], (1, length), interpolation=cv2.INTER_LINEAR)[:, 0]
            for m in maps
        ]
        return np.stack(out) if out else np.zeros((0, length), np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected (N, h, w) or (N, t) maps, got shape {maps.shape}")
    height, width = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    out = [cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps]
    return np.stack(out) if out else np.zeros((0, height, width), np.float32)


def normalize_maps(maps: np.ndarray, clip_negative: bool = False) -> np.ndarray:
    """Scale each map of a batch to [0, 1] (min-max); constant maps become 0.

    ``clip_negative=True`` first sets negative evidence to 0 (Grad-CAM's ReLU).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if clip_negative:
        maps = np.maximum(maps, 0.0)
    axes = tuple(range(1, maps.ndim))
    low = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def overlay(
    image: np.ndarray, cam_map: np.ndarray, alpha: float = 0.5, colormap: int = cv2.COLORMAP_JET
) -> np.ndarray:
    """An RGB uint8 picture of ``image`` with ``cam_map``
    (any size, resized) blended on top in a colour map.

    ``image``: (H, W) grayscale or (H, W, 3) RGB, uint8 or floats in [0, 255].
    ``cam_map``: one 2-D map; it is min-max normalized unless already within [0, 1].
    """
    rgb = np.clip(to_rgb(np.asarray(image)), 0, 255).astype(np.uint8)
    cam_map = np.asarray(cam_map, dtype=np.float32)
    if cam_map.ndim != 2:
        raise ValueError(f"overlay takes one 2-D map, got shape {cam_map.shape}")
    if cam_map.min() < 0 or cam_map.max() > 1:
        cam_map = normalize_maps(cam_map[np.newaxis])[0]
    cam_map = cv2.resize(cam_map, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.uint8(np.clip(cam_map, 0, 1) * 255), colormap)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 1.0 - alpha, heat, alpha, 0.0)


def map_correlation(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of maps (flattened); NaN where a map is constant."""
    a = np.asarray(maps_a, dtype=np.float64).reshape(len(maps_a), -1)
    b = np.asarray(maps_b, dtype=np.float64).reshape(len(maps_b), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


def cam_energy_share(cams: np.ndarray, masks: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Per image: the share of the CAM's mass inside ``masks``
    ((N, h, w) each; CAMs are upsampled to the masks).

    ``normalize=True`` min-max scales each map to [0, 1] first, as the energy-based pointing game of
    Score-CAM (Wang et al. 2020) does, so a diffuse offset over the whole image does not count;
    ``False`` takes the positive part of the raw map. Images whose mask is empty or whose map has no
    mass give NaN.
    """
    if cams.shape[1:] != masks.shape[1:]:
        cams = upsample_maps(cams, masks.shape[1])
    positive = normalize_maps(cams) if normalize else np.clip(cams, 0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    valid = (total > 0) & (masks.sum(axis=(1, 2)) > 0)
    return np.where(valid, inside / np.where(total > 0, total, 1), np.nan)


def peak_ratio(cams: np.ndarray) -> np.ndarray:
    """Per image: the CAM's maximum over its mean absolute value (large = evidence in one place)."""
    flat = cams.reshape(len(cams), -1)
    return flat.max(axis=1) / (np.abs(flat).mean(axis=1) + 1e-8)
