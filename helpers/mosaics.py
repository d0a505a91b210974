"""Module-like mosaics of cell images, for measuring how well class activation maps localize.

An electroluminescence image of a solar module is a grid of cells. ``make_mosaics``
builds such grids from a cell data set (ELPV): a positive mosaic holds exactly one
defective cell at a random tile, a negative one only functional cells, and every
mosaic draws its cells from one group (module type), as a real module would. The
only label a classifier sees is "contains a defective cell"; where the defect is
(``Mosaics.target``) is kept for scoring.

Scoring a batch of maps (any resolution, tiles assigned by pixel centre):
``pointing_game`` (the map's peak lies in the defective tile), ``energy_in_target``
(share of the positive mass inside that tile), with baselines ``random_maps``,
``centre_bias_maps`` and ``tile_value_maps`` (e.g. the darkest tile).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Mosaics:
    """Grids of cells: data set indices per tile, the module-level label and where the defect is."""

    cells: np.ndarray  #: (N, rows, cols) data set indices
    labels: np.ndarray  #: (N,) 1 if the mosaic contains a defective cell
    target: np.ndarray  #: (N,) flat tile index (row * cols + col) of the defective cell, -1 if none
    groups: np.ndarray  #: (N,) the group (module type) the mosaic's cells come from

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.cells.shape[1]), int(self.cells.shape[2])

    def subset(self, which: np.ndarray) -> "Mosaics":
        """The mosaics selected by an index or boolean array."""
        return Mosaics(self.cells[which], self.labels[which], self.target[which], self.groups[which])


def make_mosaics(
    probabilities: np.ndarray,
    indices: np.ndarray,
    n_mosaics: int,
    *,
    grid: tuple[int, int] = (3, 3),
    groups: np.ndarray | None = None,
    positive_fraction: float = 0.5,
    defect_probabilities: tuple[float, ...] = (1.0,),
    seed: int = 0,
) -> Mosaics:
    """Draw ``n_mosaics`` grids from the cells ``indices`` of a data set.

    ``probabilities``: each cell's defect probability (whole data set). Functional
    cells are those with probability 0; the one defective cell of a positive mosaic
    has a probability in ``defect_probabilities`` and sits at a uniformly random
    tile. ``groups`` (e.g. module type, whole data set): a mosaic takes all its
    cells from one group, chosen in proportion to the group's defective cells
    (positives) or functional cells (negatives). Cells do not repeat within a mosaic.
    """
    rng = np.random.default_rng(seed)
    probabilities = np.asarray(probabilities, dtype=float)
    indices = np.asarray(indices)
    groups = np.zeros(len(probabilities), dtype=int) if groups is None else np.asarray(groups)
    rows, cols = grid
    n_tiles = rows * cols
    wanted = np.isin(np.round(probabilities * 3), np.round(np.asarray(defect_probabilities) * 3))
    functional = {g: indices[(probabilities[indices] == 0) & (groups[indices] == g)] for g in np.unique(groups[indices])}
    defective = {g: indices[wanted[indices] & (groups[indices] == g)] for g in functional}
    n_positive = int(round(n_mosaics * positive_fraction))
    labels = np.r_[np.ones(n_positive, int), np.zeros(n_mosaics - n_positive, int)]
    rng.shuffle(labels)

    def pick_group(pools: dict, need: int) -> object:
        names = [g for g in pools if len(pools[g]) >= need and len(functional[g]) >= n_tiles - 1]
        if not names:
            raise ValueError(f"too few cells to fill a {rows}x{cols} mosaic from these indices")
        sizes = np.array([len(pools[g]) for g in names], dtype=float)
        return names[rng.choice(len(names), p=sizes / sizes.sum())]

    cells = np.empty((n_mosaics, n_tiles), dtype=np.int64)
    target = np.full(n_mosaics, -1, dtype=int)
    chosen_groups = []
    for i, label in enumerate(labels):
        if label:
            group = pick_group(defective, 1)
            tiles = rng.choice(functional[group], n_tiles - 1, replace=False)
            where = int(rng.integers(n_tiles))
            cells[i] = np.insert(tiles, where, rng.choice(defective[group]))
            target[i] = where
        else:
            group = pick_group(functional, n_tiles)
            cells[i] = rng.choice(functional[group], n_tiles, replace=False)
        chosen_groups.append(group)
    return Mosaics(cells.reshape(n_mosaics, rows, cols), labels, target, np.asarray(chosen_groups))


def resize_cells(images: np.ndarray, tile_size: int) -> np.ndarray:
    """Every cell image (N, H, W) or (N, H, W, 3) resized to ``tile_size`` square (area interpolation), uint8."""
    out = [cv2.resize(np.asarray(image), (tile_size, tile_size), interpolation=cv2.INTER_AREA) for image in images]
    return np.stack(out).astype(np.uint8)


def render_mosaics(tiles: np.ndarray, mosaics: Mosaics, which: np.ndarray | slice = slice(None)) -> np.ndarray:
    """The mosaic images: ``tiles`` (cells resized, indexed like the data set) laid out on each grid.

    Returns (n, rows * t, cols * t) for grayscale tiles or (n, rows * t, cols * t, 3) for RGB ones.
    """
    cells = mosaics.cells[which]
    n, rows, cols = cells.shape
    picked = tiles[cells.reshape(-1)]  # (n * rows * cols, t, t[, 3])
    t = tiles.shape[1]
    picked = picked.reshape(n, rows, cols, t, t, *tiles.shape[3:])
    order = (0, 1, 3, 2, 4, *range(5, picked.ndim))
    return picked.transpose(order).reshape(n, rows * t, cols * t, *tiles.shape[3:])


# --------------------------------------------------------------------------- scoring


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
    """Gaussian maps centred on the image (``sigma`` as a fraction of its size): the centre-bias baseline."""
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


def outline_tiles(image: np.ndarray, grid: tuple[int, int], highlight: int | None = None, *,
                  colour: tuple[int, int, int] = (255, 255, 255), highlight_colour: tuple[int, int, int] = (0, 255, 0),
                  thickness: int = 1) -> np.ndarray:
    """An RGB uint8 copy of ``image`` with the tile borders drawn, tile ``highlight`` in its own colour."""
    from helpers.images import to_rgb

    picture = np.ascontiguousarray(to_rgb(np.clip(np.asarray(image), 0, 255).astype(np.uint8))).copy()
    height, width = picture.shape[:2]
    rows, cols = grid
    for r in range(1, rows):
        y = round(r * height / rows)
        cv2.line(picture, (0, y), (width - 1, y), colour, thickness)
    for c in range(1, cols):
        x = round(c * width / cols)
        cv2.line(picture, (x, 0), (x, height - 1), colour, thickness)
    if highlight is not None and highlight >= 0:
        r, c = divmod(int(highlight), cols)
        top, left = round(r * height / rows), round(c * width / cols)
        bottom, right = round((r + 1) * height / rows) - 1, round((c + 1) * width / cols) - 1
        cv2.rectangle(picture, (left, top), (right, bottom), highlight_colour, thickness + 2)
    return picture


def outscore_probability(defective_scores: np.ndarray, functional_scores: np.ndarray, n_others: int) -> np.ndarray:
    """Per defective cell: the chance its score beats ``n_others`` functional cells drawn at random.

    ``F(s) ** n_others`` with ``F`` the share of ``functional_scores`` strictly below ``s``:
    the best pointing game a model that scores each cell on its own can reach.
    """
    functional = np.sort(np.asarray(functional_scores, dtype=np.float64))
    if functional.size == 0:
        raise ValueError("need at least one functional cell score")
    below = np.searchsorted(functional, np.asarray(defective_scores, dtype=np.float64), side="left") / functional.size
    return below**n_others
