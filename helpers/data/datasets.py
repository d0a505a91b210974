"""Image data sets behind one interface (``ImageDataset``),
and the one train/test split every notebook shares."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from helpers.data.images import IMAGE_EXTENSIONS, UnreadableImageError, read_image, resize_rgb

#: Seed of the shared split: change it and no number across notebooks compares.
SPLIT_SEED = 1234
TEST_SIZE = 0.25
ELPV_LICENSE = "CC BY-NC-SA 4.0 (Buerhop-Lutz et al. 2018; Deitsch et al. 2019)"


class DatasetError(ValueError):
    """A data set is missing, empty or malformed; the message names the fix."""


@dataclass
class ImageDataset:
    """Images (in memory or on disk) with integer labels, class names and per-image metadata."""

    name: str
    labels: np.ndarray
    class_names: list[str]
    meta: pd.DataFrame
    images: np.ndarray | None = None
    paths: list[Path] | None = None
    license: str = ""
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.images is None) == (self.paths is None):
            raise ValueError("an ImageDataset holds either images or paths")
        if len(self.labels) != len(self.meta) or len(self.labels) != len(self):
            raise ValueError("labels, metadata and images must have the same length")

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.paths)

    @property
    def strata(self) -> np.ndarray:
        """What the shared split is stratified by: the ``stratum`` column, else the label."""
        if "stratum" in self.meta:
            return self.meta["stratum"].to_numpy()
        return self.labels

    @property
    def fingerprint(self) -> str:
        """A short hash of the data set's identity and contents (every pixel in memory, or each
        file's size and time), for cache keys."""
        digest = hashlib.sha256(self.name.encode())
        digest.update(np.ascontiguousarray(self.labels).tobytes())
        if self.paths is not None:
            for path in self.paths:
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(str((self.images.shape, self.images.dtype.str)).encode())
            # every pixel: versions differ in a few images
            digest.update(memoryview(np.ascontiguousarray(self.images)).cast("B"))
        return digest.hexdigest()[:16]

    def image(self, index: int) -> np.ndarray:
        """One image as uint8, (H, W) grayscale or (H, W, 3) RGB."""
        if self.images is not None:
            return self.images[index]
        return read_image(self.paths[index])

    def target_probabilities(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Soft training targets (n, classes): ``[1 - p, p]`` for a binary set whose metadata
        records the probability ``p`` of the positive class (ELPV's experts' defect probability),
        else the one-hot labels. Their argmax is the label."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices)
        if len(self.class_names) == 2 and "probability" in self.meta:
            positive = self.meta["probability"].to_numpy(np.float32)[indices]
            return np.stack([1.0 - positive, positive], axis=1)
        return np.eye(len(self.class_names), dtype=np.float32)[self.labels[indices]]

    def class_counts(self, splits: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Images per class: one column for the whole set, or one per named split (name ->
        indices)."""
        splits = splits or {"images": np.arange(len(self))}
        columns = {
            name: np.bincount(self.labels[np.asarray(indices)], minlength=len(self.class_names))
            for name, indices in splits.items()
        }
        return pd.DataFrame(columns, index=pd.Index(self.class_names, name="class"))

    def in_memory(self, size: int) -> ImageDataset:
        """This data set with its images in memory: itself when they are; else every file decoded
        and resized to ``size`` square RGB (for what needs the pixels, such as stamping an
        artifact)."""
        if self.images is not None:
            return self
        images = np.stack([resize_rgb(read_image(path), size) for path in self.paths])
        return replace(self, images=images, paths=None)

    def subset(self, indices: np.ndarray) -> ImageDataset:
        """The same data set restricted to ``indices`` (metadata re-indexed from 0)."""
        indices = np.asarray(indices)
        return replace(
            self,
            labels=self.labels[indices],
            meta=self.meta.iloc[indices].reset_index(drop=True),
            images=None if self.images is None else self.images[indices],
            paths=None if self.paths is None else [self.paths[i] for i in indices],
        )


def target_class(dataset: ImageDataset, name: str | None) -> tuple[int, str]:
    """The class a notebook localizes or confounds, by
    name, and one sentence saying which it is and why.

    ``None`` takes ``defective`` where the data set has it (ELPV), else its last class, and says so.
    """
    from helpers.checks import ParameterError, suggest

    if name is not None:
        if name not in dataset.class_names:
            raise ParameterError(
                f"TARGET_CLASS = {name!r} is not a class of "
                f"{dataset.name}{suggest(name, dataset.class_names)}: "
                f"choose one of {dataset.class_names}."
            )
        return dataset.class_names.index(name), f"target class: {name!r} (TARGET_CLASS)"
    if "defective" in dataset.class_names:
        return dataset.class_names.index("defective"), "target class: 'defective'"
    chosen = len(dataset.class_names) - 1
    return (
        chosen,
        f"target class: {dataset.class_names[chosen]!r}, the last of {dataset.class_names}; "
        "set TARGET_CLASS to choose another",
    )


def load_elpv(label: str = "binary") -> ImageDataset:
    """The ELPV solar-cell set: 2,624 grayscale 300x300 electroluminescence images.

    ``label="binary"``: defective if the experts' defect probability >= 0.5 (Deitsch et al. 2019);
    ``label="level"``: the four probability levels. Metadata: ``probability``, ``level`` (0-3),
    ``module_type`` (mono/poly), ``stratum`` (probability and type: what the shared split keeps
    balanced).
    """
    from elpv_dataset.utils import load_dataset as load_elpv_arrays

    images, probabilities, types = load_elpv_arrays()
    level = np.rint(probabilities * 3).astype(int)
    meta = pd.DataFrame({"probability": probabilities, "level": level, "module_type": types})
    meta["stratum"] = meta["level"].astype(str) + "_" + meta["module_type"]
    if label == "binary":
        labels, class_names = (probabilities >= 0.5).astype(int), ["functional", "defective"]
    elif label == "level":
        labels, class_names = level, ["p=0", "p=1/3", "p=2/3", "p=1"]
    else:
        raise ValueError(f"label must be 'binary' or 'level', not {label!r}")
    return ImageDataset(
        "elpv" if label == "binary" else "elpv-level",
        labels,
        class_names,
        meta,
        images=images,
        license=ELPV_LICENSE,
    )


def load_image_folder(root: str | Path, strict: bool = False) -> ImageDataset:
    """Images in ``root/<class name>/*.{png,jpg,bmp,tif}``, grayscale or RGB, at least 2 per class.

    Every file is decoded once to check it; unreadable files are listed in ``dataset.skipped`` (and
    warned about), or raise with ``strict=True``.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"image folder {root} does not exist: point DATASET='folder:/path' at a folder with "
            "one sub-folder per class"
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DatasetError(
            f"{root} has {len(class_dirs)} class sub-folder(s): "
            f"put each class's images in {root}/<class name>/ (at least 2 classes)"
        )
    paths, labels, skipped = [], [], []
    for label, class_dir in enumerate(class_dirs):
        for path in sorted(class_dir.rglob("*")):
            if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
                continue
            try:
                read_image(path)
            except UnreadableImageError as error:
                if strict:
                    raise DatasetError(str(error)) from None
                skipped.append((path, str(error)))
                continue
            paths.append(path)
            labels.append(label)
    counts = (
        np.bincount(labels, minlength=len(class_dirs)) if labels else np.zeros(len(class_dirs), int)
    )
    too_few = [f"{d.name} ({n})" for d, n in zip(class_dirs, counts) if n < 2]
    if too_few:
        raise DatasetError(
            f"class folder(s) {', '.join(too_few)} in {root} hold fewer than 2 readable "
            f"{'/'.join(IMAGE_EXTENSIONS)} images: "
            "add images (one for training, one for testing at least) or remove the folder"
        )
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s): "
            + ", ".join(p.name for p, _ in skipped[:10]),
            stacklevel=2,
        )
    meta = pd.DataFrame({"path": [str(p) for p in paths]})
    return ImageDataset(
        f"folder-{root.name}",
        np.asarray(labels),
        [d.name for d in class_dirs],
        meta,
        paths=paths,
        skipped=skipped,
    )


def split_indices(
    dataset: ImageDataset, test_size: float = TEST_SIZE, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The shared deterministic split: (train, test) indices, stratified by ``dataset.strata``.

    A data set that ships its own split (a ``split`` metadata column with
    ``train``/``val``/``test``) keeps it: train and val become train. Every class keeps at least one
    image on each side.
    """
    if "split" in dataset.meta:
        is_test = (dataset.meta["split"] == "test").to_numpy()
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)
    strata = dataset.strata
    _, counts = np.unique(strata, return_counts=True)
    stratify = strata if counts.min() >= 2 else dataset.labels
    n_groups = len(np.unique(stratify))
    n_test = min(max(int(np.ceil(test_size * len(dataset))), n_groups), len(dataset) - n_groups)
    indices = np.arange(len(dataset))
    train, test = train_test_split(indices, test_size=n_test, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def stratified_sample(
    indices: np.ndarray, strata: np.ndarray, max_size: int | None, seed: int = 0
) -> np.ndarray:
    """At most ``max_size`` of ``indices``, keeping the
    proportions of ``strata`` (all of them if None)."""
    indices = np.asarray(indices)
    if max_size is None or max_size >= len(indices):
        return indices
    groups = np.asarray(strata)[indices]
    _, counts = np.unique(groups, return_counts=True)
    stratify = groups if counts.min() >= 2 and max_size >= len(counts) else None
    sample, _ = train_test_split(indices, train_size=max_size, random_state=seed, stratify=stratify)
    return np.sort(sample)


def carve_validation(
    indices: np.ndarray, strata: np.ndarray, fraction: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (fit, validation),
    stratified by ``strata`` when every stratum allows it."""
    indices = np.asarray(indices)
    groups = np.asarray(strata)[indices]
    _, counts = np.unique(groups, return_counts=True)
    n_val = max(1, int(round(fraction * len(indices))))
    stratify = (
        groups
        if counts.min() >= 2 and n_val >= len(counts) and len(indices) - n_val >= len(counts)
        else None
    )
    fit, validation = train_test_split(
        indices, test_size=n_val, random_state=seed, stratify=stratify
    )
    return np.sort(fit), np.sort(validation)
