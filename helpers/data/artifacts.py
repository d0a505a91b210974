"""Label-correlated artifacts stamped on images: the shortcut a model should not learn.

A marker (a bright text token in a dark frame, like an inspector's stamp or
the laterality markers and hospital tokens that fooled chest X-ray models)
is drawn in a random corner of an image. ``stamp_artifacts`` draws it on
chosen images and returns where it went; ``confounded_set`` stamps most
images of one class and few of the others (the training set with a
shortcut); ``artifact_test_sets`` builds the clean, decorrelated (every
image stamped) and reversed (correlated the other way) test sets.

The artifact's box travels with the images in the data set's metadata
(columns ``artifact``, ``box_x0``, ``box_y0``, ``box_x1``, ``box_y1``, in
pixels of the stored images), so ``artifact_boxes`` and ``box_masks`` can
always say where the artifact is, at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from helpers.data.datasets import ImageDataset

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
BOX_COLUMNS = ["box_x0", "box_y0", "box_x1", "box_y1"]


@dataclass
class StampedImages:
    """Images with an artifact on some of them: ``boxes[i]``
    is (x0, y0, x1, y1), or -1s where not stamped."""

    images: np.ndarray
    boxes: np.ndarray

    @property
    def stamped(self) -> np.ndarray:
        """Which images carry the artifact."""
        return self.boxes[:, 0] >= 0

    def masks(self, size: int | None = None) -> np.ndarray:
        """(N, size, size) float masks of the artifact
        (1 inside the box), at the images' size if None."""
        return box_masks(self.boxes, self.images.shape[1], size)


def draw_marker(image: np.ndarray, box: tuple[int, int, int, int], text: str = "R") -> np.ndarray:
    """A copy of ``image`` (uint8, grayscale or RGB) with
    a bright ``text`` in a dark frame filling ``box``."""
    x0, y0, x1, y1 = (int(v) for v in box)
    side = min(x1 - x0, y1 - y0)
    out = np.ascontiguousarray(image.copy())
    dark, bright = (25,) * (3 if out.ndim == 3 else 1), (235,) * (3 if out.ndim == 3 else 1)
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), dark, thickness=-1)
    border = max(1, side // 14)
    cv2.rectangle(
        out,
        (x0 + border, y0 + border),
        (x1 - 1 - border, y1 - 1 - border),
        bright,
        thickness=border,
    )
    thickness = max(1, side // 9)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (width, height), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = 0.55 * side / max(width, height)
    (width, height), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = (x0 + (x1 - x0 - width) // 2, y0 + (y1 - y0 + height) // 2)
    cv2.putText(out, text, origin, font, scale, bright, thickness, cv2.LINE_AA)
    return out


def random_boxes(
    n: int,
    image_side: int,
    *,
    size: float = 0.2,
    size_jitter: float = 0.1,
    offset: float = 0.06,
    corners: tuple[str, ...] = CORNERS,
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """``n`` square boxes (x0, y0, x1, y1) of about ``size`` * ``image_side`` in random ``corners``.

    Each box sits up to ``offset`` * ``image_side`` away from its corner; its
    side varies by up to ``size_jitter`` (relative).
    """
    unknown = set(corners) - set(CORNERS)
    if unknown:
        raise ValueError(f"unknown corner(s) {sorted(unknown)}: use {CORNERS}")
    if not 0 < size <= 0.5:
        raise ValueError(f"size must be in (0, 0.5], not {size}")
    rng = np.random.default_rng(random_state)
    sides = np.rint(image_side * size * (1 + rng.uniform(-size_jitter, size_jitter, n))).astype(int)
    sides = np.clip(sides, 4, image_side // 2)
    where = rng.integers(0, len(corners), n)
    shift = rng.integers(0, max(1, int(offset * image_side)) + 1, (n, 2))
    boxes = np.empty((n, 4), dtype=np.int64)
    for i in range(n):
        corner = corners[where[i]]
        x0 = shift[i, 0] if corner.endswith("left") else image_side - shift[i, 0] - sides[i]
        y0 = shift[i, 1] if corner.startswith("top") else image_side - shift[i, 1] - sides[i]
        boxes[i] = (x0, y0, x0 + sides[i], y0 + sides[i])
    return boxes


def stamp_artifacts(
    images: np.ndarray,
    which: np.ndarray,
    *,
    text: str = "R",
    size: float = 0.2,
    corners: tuple[str, ...] = CORNERS,
    random_state: int | np.random.Generator | None = None,
) -> StampedImages:
    """Draw the marker on ``images[which]`` (a boolean mask); square images (N, S, S[, 3]) uint8."""
    images = np.asarray(images)
    which = np.asarray(which, dtype=bool)
    if images.ndim < 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square images (N, S, S[, 3]), got shape {images.shape}")
    if which.shape != (len(images),):
        raise ValueError("which must be a boolean mask with one entry per image")
    boxes = np.full((len(images), 4), -1, dtype=np.int64)
    boxes[which] = random_boxes(
        int(which.sum()), images.shape[1], size=size, corners=corners, random_state=random_state
    )
    out = images.copy()
    for i in np.flatnonzero(which):
        out[i] = draw_marker(images[i], boxes[i], text)
    return StampedImages(out, boxes)


def box_masks(boxes: np.ndarray, image_side: int, size: int | None = None) -> np.ndarray:
    """(N, size, size) float32 masks: the share of each pixel (or map cell) covered by each box.

    At a coarser ``size`` than ``image_side`` (e.g. a CAM's 7x7 grid) a cell
    partly covered gets the covered fraction. Rows of -1 give empty masks.
    """
    boxes = np.asarray(boxes)
    size = image_side if size is None else int(size)
    edges = np.linspace(0, image_side, size + 1)
    low, high = edges[:-1], edges[1:]
    masks = np.zeros((len(boxes), size, size), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if x0 < 0:
            continue
        cover_x = np.clip(np.minimum(high, x1) - np.maximum(low, x0), 0, None) / (high - low)
        cover_y = np.clip(np.minimum(high, y1) - np.maximum(low, y0), 0, None) / (high - low)
        masks[i] = np.outer(cover_y, cover_x)
    return masks


def stamp_choice(
    labels: np.ndarray,
    rates: dict[int, float],
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Which images to stamp: each image of class ``c`` with
    probability ``rates[c]`` (0 for classes not named).

    Exactly ``round(rate * count)`` images of each class are chosen, so the
    correlation is what was asked for, not just on average.
    """
    rng = np.random.default_rng(random_state)
    labels = np.asarray(labels)
    which = np.zeros(len(labels), dtype=bool)
    for label, rate in sorted(rates.items()):
        if not 0 <= rate <= 1:
            raise ValueError(f"rates are probabilities, not {rate}")
        members = np.flatnonzero(labels == label)
        which[rng.choice(members, int(round(rate * len(members))), replace=False)] = True
    return which


def _stamped_dataset(
    dataset: ImageDataset, indices: np.ndarray, which: np.ndarray, name: str, **stamp
) -> ImageDataset:
    if dataset.images is None:
        raise ValueError(
            "artifacts are stamped on in-memory data sets (e.g. ELPV); "
            "load image folders into memory first"
        )
    subset = dataset.subset(np.asarray(indices))
    stamped = stamp_artifacts(subset.images, which, **stamp)
    meta = subset.meta.copy()
    meta["source_index"] = np.asarray(indices)
    meta["artifact"] = stamped.stamped
    meta[BOX_COLUMNS] = stamped.boxes
    return ImageDataset(
        name,
        subset.labels,
        subset.class_names,
        meta,
        images=stamped.images,
        license=dataset.license,
    )


def confounded_set(
    dataset: ImageDataset,
    indices: np.ndarray,
    rates: dict[int, float],
    *,
    name: str | None = None,
    text: str = "R",
    size: float = 0.2,
    random_state: int | None = 0,
) -> ImageDataset:
    """``dataset[indices]`` with the marker on a share
    ``rates[c]`` of the images of each class ``c``.

    The returned data set's metadata has the ``artifact`` flag, the box
    columns and ``source_index`` (the index in ``dataset``).
    """
    rng = np.random.default_rng(random_state)
    which = stamp_choice(dataset.labels[np.asarray(indices)], rates, rng)
    label = "-".join(f"{c}:{r:g}" for c, r in sorted(rates.items()))
    return _stamped_dataset(
        dataset,
        indices,
        which,
        name or f"{dataset.name}-artifact-{label}",
        text=text,
        size=size,
        random_state=rng,
    )


def confounding_rates(
    n_classes: int, target_class: int, rate_with: float, rate_other: float
) -> dict[int, float]:
    """Stamp rates per class: ``rate_with`` for
    ``target_class``, ``rate_other`` for every other class."""
    if not 0 <= target_class < n_classes:
        raise ValueError(f"target class {target_class} is not one of the {n_classes} classes")
    return {c: rate_with if c == target_class else rate_other for c in range(n_classes)}


def artifact_test_sets(
    dataset: ImageDataset,
    indices: np.ndarray,
    rates: dict[int, float],
    target_class: int,
    *,
    text: str = "R",
    size: float = 0.2,
    random_state: int | None = 1,
) -> dict[str, ImageDataset]:
    """Three versions of ``dataset[indices]``: ``clean``, ``decorrelated`` (every image stamped) and
    ``reversed`` (the target class stamped at the others' training rate, the others at the
    target's)."""
    others = [rate for c, rate in rates.items() if c != target_class]
    if not others or len(set(others)) != 1:
        raise ValueError(
            "the reversed test set needs one training rate for every class but the target"
        )
    swapped = {c: others[0] if c == target_class else rates[target_class] for c in rates}
    plans = {
        "clean": dict.fromkeys(rates, 0.0),
        "decorrelated": dict.fromkeys(rates, 1.0),
        "reversed": swapped,
    }
    rng = np.random.default_rng(random_state)
    return {
        kind: confounded_set(
            dataset,
            indices,
            plan,
            name=f"{dataset.name}-test-{kind}",
            text=text,
            size=size,
            random_state=rng,
        )
        for kind, plan in plans.items()
    }


def artifact_boxes(dataset: ImageDataset) -> np.ndarray:
    """(N, 4) boxes of a data set made by ``confounded_set`` (-1 rows where there is no
    artifact)."""
    if "artifact" not in dataset.meta:
        return np.full((len(dataset), 4), -1, dtype=np.int64)
    return dataset.meta[BOX_COLUMNS].to_numpy(dtype=np.int64)
