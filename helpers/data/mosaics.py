"""Mosaics of images with one target image at a known tile: localization ground truth without boxes.

An electroluminescence image of a solar module is a grid of cells; ``make_mosaics`` builds such
grids from a cell data set (one target cell among background cells, or background only), each mosaic
from one group (module type) as a real module would be. A classifier sees only "contains a target
cell"; where it is (``Mosaics.target``) is kept for scoring (``helpers.explain.localization``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from helpers.checks import ParameterError
from helpers.data.datasets import ImageDataset
from helpers.data.images import to_rgb


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

    def subset(self, which: np.ndarray) -> Mosaics:
        """The mosaics selected by an index or boolean array."""
        return Mosaics(
            self.cells[which], self.labels[which], self.target[which], self.groups[which]
        )

    def as_dataset(self, tiles: np.ndarray, name: str) -> ImageDataset:
        """The rendered mosaics as an in-memory image data
        set labelled "contains target" (1) or not (0)."""
        meta = pd.DataFrame({"target_tile": self.target, "group": self.groups})
        return ImageDataset(
            name,
            self.labels,
            ["background only", "contains target"],
            meta,
            images=render_mosaics(tiles, self),
        )


def check_mosaics(
    target_cells: np.ndarray,
    background_cells: np.ndarray,
    splits: dict[str, np.ndarray],
    grid: tuple[int, int],
) -> None:
    """Raise ``ParameterError`` (one sentence) when a split
    has too few images to fill one mosaic of each kind."""
    need = grid[0] * grid[1]
    for split, indices in splits.items():
        targets, background = int(target_cells[indices].sum()), int(background_cells[indices].sum())
        if targets < 1 or background < need:
            raise ParameterError(
                f"the {split} split has {targets} target and {background} background images, "
                f"too few for {grid[0]}x{grid[1]} mosaics "
                f"(at least 1 and {need}): add images, lower GRID"
                + (", raise VALIDATION_FRACTION" if split == "validation" else "")
                + " or choose another TARGET_CLASS."
            )


def make_mosaics(
    target_cells: np.ndarray,
    background_cells: np.ndarray,
    indices: np.ndarray,
    n_mosaics: int,
    *,
    grid: tuple[int, int] = (3, 3),
    groups: np.ndarray | None = None,
    positive_fraction: float = 0.5,
    seed: int = 0,
) -> Mosaics:
    """Draw ``n_mosaics`` grids from the cells ``indices`` of a data set.

    ``target_cells`` and ``background_cells`` are boolean over the whole data set (ELPV: defect
    probability 1 and 0; any other set: one class and the rest). A positive mosaic holds one target
    cell at a uniformly random tile among background cells; a negative one only background cells.
    ``groups`` (e.g. module type, whole data set): a mosaic takes all its cells from one group,
    chosen in proportion to the group's target cells (positives) or background cells (negatives).
    Cells do not repeat within a mosaic.
    """
    rng = np.random.default_rng(seed)
    target_cells, background_cells = (
        np.asarray(target_cells, bool),
        np.asarray(background_cells, bool),
    )
    indices = np.asarray(indices)
    groups = np.zeros(len(target_cells), dtype=int) if groups is None else np.asarray(groups)
    rows, cols = grid
    n_tiles = rows * cols
    background = {
        g: indices[background_cells[indices] & (groups[indices] == g)]
        for g in np.unique(groups[indices])
    }
    targets = {g: indices[target_cells[indices] & (groups[indices] == g)] for g in background}
    n_positive = int(round(n_mosaics * positive_fraction))
    labels = np.r_[np.ones(n_positive, int), np.zeros(n_mosaics - n_positive, int)]
    rng.shuffle(labels)

    def pick_group(pools: dict, need: int) -> object:
        names = [g for g in pools if len(pools[g]) >= need and len(background[g]) >= n_tiles - 1]
        if not names:
            raise ValueError(f"too few cells to fill a {rows}x{cols} mosaic from these indices")
        sizes = np.array([len(pools[g]) for g in names], dtype=float)
        return names[rng.choice(len(names), p=sizes / sizes.sum())]

    cells = np.empty((n_mosaics, n_tiles), dtype=np.int64)
    target = np.full(n_mosaics, -1, dtype=int)
    chosen_groups = []
    for i, label in enumerate(labels):
        if label:
            group = pick_group(targets, 1)
            tiles = rng.choice(background[group], n_tiles - 1, replace=False)
            where = int(rng.integers(n_tiles))
            cells[i] = np.insert(tiles, where, rng.choice(targets[group]))
            target[i] = where
        else:
            group = pick_group(background, n_tiles)
            cells[i] = rng.choice(background[group], n_tiles, replace=False)
        chosen_groups.append(group)
    return Mosaics(cells.reshape(n_mosaics, rows, cols), labels, target, np.asarray(chosen_groups))


def resize_cells(images, tile_size: int) -> np.ndarray:
    """Every image (an array (N, H, W[, 3]) or a list of any sizes) resized to ``tile_size`` square
    (area interpolation), uint8; all RGB when any of them is."""
    images = [np.asarray(image) for image in images]
    if any(image.ndim == 3 for image in images):
        images = [to_rgb(image) for image in images]
    out = [
        cv2.resize(image, (tile_size, tile_size), interpolation=cv2.INTER_AREA) for image in images
    ]
    return np.stack(out).astype(np.uint8)


def render_mosaics(
    tiles: np.ndarray, mosaics: Mosaics, which: np.ndarray | slice = slice(None)
) -> np.ndarray:
    """The mosaic images: ``tiles`` (cells resized,
    indexed like the data set) laid out on each grid.

    Returns (n, rows * t, cols * t) for grayscale tiles or (n, rows * t, cols * t, 3) for RGB ones.
    """
    cells = mosaics.cells[which]
    n, rows, cols = cells.shape
    picked = tiles[cells.reshape(-1)]  # (n * rows * cols, t, t[, 3])
    t = tiles.shape[1]
    picked = picked.reshape(n, rows, cols, t, t, *tiles.shape[3:])
    order = (0, 1, 3, 2, 4, *range(5, picked.ndim))
    return picked.transpose(order).reshape(n, rows * t, cols * t, *tiles.shape[3:])


def outline_tiles(
    image: np.ndarray,
    grid: tuple[int, int],
    highlight: int | None = None,
    *,
    colour: tuple[int, int, int] = (255, 255, 255),
    highlight_colour: tuple[int, int, int] = (0, 255, 0),
    thickness: int = 1,
) -> np.ndarray:
    """An RGB uint8 copy of ``image`` with the tile
    borders drawn, tile ``highlight`` in its own colour."""
    picture = np.ascontiguousarray(
        to_rgb(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    ).copy()
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
