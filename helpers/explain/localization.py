"""Scoring where a map points when the truth is known: tiles
of a mosaic, fault windows of a series, and baselines.

Image maps (any resolution, tiles assigned by pixel centre): ``pointing_game`` (the peak lies in the
target tile), ``energy_in_target`` (share of the positive mass inside it), baselines
``random_maps``, ``centre_bias_maps`` and ``tile_value_maps``; ``outscore_probability`` is the
ceiling a per-cell scorer sets. Series maps: ``peak_in_window_rate`` against ``random_peak_rate``.
"""

from __future__ import annotations

import numpy as np


def tile_index_grid(shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """(H, W) array: the flat tile index of every pixel, by its centre."""
    height, width = shape
    rows, cols = grid
    r = np.minimum(((np.arange(height) + 0.5) * rows / height).astype(int), rows - 1)
    c = np.minimum(((np.arange(width) + 0.5) * cols / width).astype(int), cols - 1)
    return r[:, None] * cols + c[None, :]


def peak_tiles(maps: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The tile that holds each map's maximum (the first one on ties)."""
    maps = np.asarray(maps)
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return tile_index_grid(maps.shape[1:], grid).reshape(-1)[flat]


def pointing_game(maps: np.ndarray, target: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Per map: does its peak fall inside the target tile? (maps with target -1 are skipped)."""
    target = np.asarray(target)
    keep = target >= 0
    return peak_tiles(np.asarray(maps)[keep], grid) == target[keep]


def energy_in_target(maps: np.ndarray, target: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Per map: share of its positive mass (negative values set to 0) inside the target tile.

    A map with no positive mass counts as spread evenly (1 / number of tiles).
    Maps with target -1 are skipped.
    """
    target = np.asarray(target)
    keep = target >= 0
    maps = np.maximum(np.asarray(maps, dtype=np.float64)[keep], 0.0)
    tiles = tile_index_grid(maps.shape[1:], grid)
    inside = (tiles[None] == target[keep][:, None, None]).astype(np.float64)
    total = maps.sum(axis=(1, 2))
    share = (maps * inside).sum(axis=(1, 2)) / np.where(total > 0, total, 1.0)
    even = inside.sum(axis=(1, 2)) / inside[0].size if len(inside) else np.zeros(0)
    return np.where(total > 0, share, even)


def random_maps(n: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Uniform noise maps: the chance baseline (their peak is anywhere with equal probability)."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, *shape))


def centre_bias_maps(n: int, shape: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """Gaussian maps centred on the image (``sigma`` as
    a fraction of its size): the centre-bias baseline."""
    height, width = shape
    y = (np.arange(height) + 0.5) / height - 0.5
    x = (np.arange(width) + 0.5) / width - 0.5
    one = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return np.broadcast_to(one, (n, height, width)).copy()


def tile_value_maps(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Maps that are constant on each tile: ``values`` (N, rows, cols) spread over (H, W) pixels."""
    values = np.asarray(values, dtype=np.float64)
    n, rows, cols = values.shape
    tiles = tile_index_grid(shape, (rows, cols))
    return values.reshape(n, -1)[:, tiles]


def tile_means(images: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Mean pixel value of every tile of every image: (N, rows, cols)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        images = images.mean(axis=-1)
    n, height, width = images.shape
    rows, cols = grid
    tiles = tile_index_grid((height, width), grid).reshape(-1)
    flat = images.reshape(n, -1)
    sums = np.stack([np.bincount(tiles, weights=row, minlength=rows * cols) for row in flat])
    counts = np.bincount(tiles, minlength=rows * cols)
    return (sums / counts).reshape(n, rows, cols)


def outscore_probability(
    defective_scores: np.ndarray, functional_scores: np.ndarray, n_others: int
) -> np.ndarray:
    """Per defective cell: the chance its score beats ``n_others`` functional cells drawn at random.

    ``F(s) ** n_others`` with ``F`` the share of ``functional_scores`` strictly below ``s``:
    the best pointing game a model that scores each cell on its own can reach.
    """
    functional = np.sort(np.asarray(functional_scores, dtype=np.float64))
    if functional.size == 0:
        raise ValueError("need at least one functional cell score")
    below = (
        np.searchsorted(functional, np.asarray(defective_scores, dtype=np.float64), side="left")
        / functional.size
    )
    return below**n_others


def peak_in_window_rate(maps: np.ndarray, windows: np.ndarray) -> float:
    """Share of maps (N, T) whose highest value lies inside
    its window ``[start, stop)``; runs with no window skipped."""
    maps, windows = np.asarray(maps), np.asarray(windows)
    keep = windows[:, 0] >= 0
    if not keep.any():
        raise ValueError("no run has a fault window")
    peaks = maps[keep].argmax(axis=1)
    return float(np.mean((peaks >= windows[keep, 0]) & (peaks < windows[keep, 1])))


def random_peak_rate(windows: np.ndarray, length: int) -> float:
    """What ``peak_in_window_rate`` scores in expectation
    when the peak falls uniformly at random in [0, length)."""
    windows = np.asarray(windows)
    keep = windows[:, 0] >= 0
    return float(np.mean((windows[keep, 1] - windows[keep, 0]) / length))
