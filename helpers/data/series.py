"""Multichannel time series as (N, T, C) arrays: any aeon
set, UCI HAR or your own files; padding and standardization."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from helpers.checks import suggest
from helpers.data.datasets import DatasetError

#: snake-case names the notebooks accepted before, and the channel names of the two default sets
ALIASES = {"basic_motions": "BasicMotions", "japanese_vowels": "JapaneseVowels"}
CHANNEL_NAMES = {
    "BasicMotions": ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
    "JapaneseVowels": [f"lpc_{i + 1}" for i in range(12)],
}
AEON_LICENSE = "UCR/UEA archive (Dau et al. 2019; Bagnall et al. 2018), bundled with aeon (BSD-3)"
#: FCN test accuracy published by Fawaz et al. 2019
#: (hfawaz/dl-4-tsc results, mean of 10 runs), where known
PUBLISHED_FCN_ACCURACY = {
    "GunPoint": 1.000,
    "ItalyPowerDemand": 0.961,
    "ArrowHead": 0.843,
    "OSULeaf": 0.977,
    "JapaneseVowels": 0.993,
}
#: the layout ``load_series_file`` reads from an ``.npz``
NPZ_LAYOUT = (
    "X_train and X_test: (N, T, C) float arrays (or object arrays of "
    "(T_i, C) series), y_train and y_test: labels; "
    "optional class_names, channel_names"
)


@dataclass
class SeriesDataset:
    """A train/test split of multichannel series, ``X_*`` of shape (N, T, C) float32, labels int."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    channel_names: list[str]
    lengths_train: np.ndarray
    lengths_test: np.ndarray
    license: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_channels(self) -> int:
        return self.X_train.shape[2]

    @property
    def variable_length(self) -> bool:
        full = self.X_train.shape[1]
        return bool((self.lengths_train < full).any() or (self.lengths_test < full).any())


def pad_series(
    series: Sequence[np.ndarray], length: int | None = None, value: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad a list of (T_i, C) arrays to ``(N, length, C)`` float32; return it and the lengths.

    ``length`` defaults to the longest series; longer series are an error (never silently cut).
    """
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    length = int(lengths.max()) if length is None else int(length)
    if (lengths > length).any():
        raise ValueError(f"a series has {lengths.max()} steps, more than length={length}")
    n_channels = np.asarray(series[0]).shape[1]
    out = np.full((len(series), length, n_channels), value, dtype=np.float32)
    for i, s in enumerate(series):
        out[i, : lengths[i]] = np.asarray(s, dtype=np.float32)
    return out, lengths


def valid_mask(lengths: np.ndarray, length: int) -> np.ndarray:
    """Boolean (N, length) mask, True on each series' first ``lengths[i]`` steps."""
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def series_dataset(
    name, train, y_train, test, y_test, *, class_names=None, channel_names=None, license=""
) -> SeriesDataset:
    """A ``SeriesDataset`` from lists of (T_i, C) series:
    both splits padded to the longest series of either."""
    length = max(max(len(s) for s in train), max(len(s) for s in test))
    X_train, lengths_train = pad_series(train, length)
    X_test, lengths_test = pad_series(test, length)
    if X_train.shape[2] != X_test.shape[2]:
        raise DatasetError(
            f"{name}: training series have {X_train.shape[2]} channels, "
            f"test series {X_test.shape[2]}"
        )
    y_train, y_test, classes = _encode_labels(np.asarray(y_train), np.asarray(y_test), class_names)
    channels = (
        list(channel_names)
        if channel_names is not None
        else [f"channel_{c}" for c in range(X_train.shape[2])]
    )
    return SeriesDataset(
        name,
        X_train,
        y_train,
        X_test,
        y_test,
        classes,
        channels,
        lengths_train,
        lengths_test,
        license,
    )


def _encode_labels(
    y_train: np.ndarray, y_test: np.ndarray, class_names=None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if class_names is not None and np.issubdtype(y_train.dtype, np.integer):
        return y_train.astype(int), y_test.astype(int), [str(c) for c in class_names]
    classes = sorted(set(map(str, y_train)) | set(map(str, y_test)))
    if all(c.lstrip("-").isdigit() for c in classes):
        classes.sort(key=int)
    index = {c: i for i, c in enumerate(classes)}
    return (
        np.array([index[str(v)] for v in y_train]),
        np.array([index[str(v)] for v in y_test]),
        classes,
    )


class ChannelStandardizer(TransformerMixin, BaseEstimator):
    """Per-channel z-scores fitted on the real (unpadded) steps of the training series only.

    ``transform`` keeps padded steps at exactly 0 (the
    training mean), so a padding mask can still be read.
    """

    def __init__(self, epsilon: float = 1e-8):
        self.epsilon = epsilon

    def fit(self, X: np.ndarray, y=None, lengths: np.ndarray | None = None) -> ChannelStandardizer:
        X = np.asarray(X, dtype=np.float64)
        mask = np.ones(X.shape[:2], bool) if lengths is None else valid_mask(lengths, X.shape[1])
        values = X[mask]  # (steps, C)
        self.mean_ = values.mean(axis=0)
        self.scale_ = np.maximum(values.std(axis=0), self.epsilon)
        self.n_features_in_ = X.shape[2]
        return self

    def transform(self, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[2] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} channels, got {X.shape[2]}")
        out = (X - self.mean_) / self.scale_
        if lengths is not None:
            out[~valid_mask(lengths, X.shape[1])] = 0.0
        return out.astype(np.float32)

    def fit_transform(self, X, y=None, lengths=None, **_):
        return self.fit(X, lengths=lengths).transform(X, lengths=lengths)


def standardize(ds: SeriesDataset) -> tuple[SeriesDataset, ChannelStandardizer]:
    """A copy of ``ds`` with per-channel z-scores fitted
    on its training split; also the fitted scaler."""
    scaler = ChannelStandardizer().fit(ds.X_train, lengths=ds.lengths_train)
    standardized = replace(
        ds,
        X_train=scaler.transform(ds.X_train, ds.lengths_train),
        X_test=scaler.transform(ds.X_test, ds.lengths_test),
        meta=dict(ds.meta),
    )
    return standardized, scaler


# ----------------------------------------------------------------------------- loaders


def bundled_aeon_sets() -> list[str]:
    """The classification sets that ship inside the aeon package (usable offline)."""
    from aeon.datasets import _data_loaders

    folder = Path(_data_loaders.__file__).parent / "data"
    return sorted(
        p.name
        for p in folder.iterdir()
        if (p / f"{p.name}_TRAIN.ts").exists() and _is_classification(p / f"{p.name}_TRAIN.ts")
    )


def _is_classification(path: Path) -> bool:
    with open(path, errors="replace") as handle:
        for line in handle:
            if line.lower().startswith("@classlabel"):
                return line.split()[1].lower() == "true"
            if line.lower().startswith("@data"):
                return False
    return False


def _from_aeon(X) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float32).T for x in X]  # aeon: (C, T) per series


def load_aeon(name: str) -> SeriesDataset:
    """An aeon classification set by its aeon name (``GunPoint``)
    or alias (``basic_motions``), padded to one length."""
    from aeon.datasets import load_classification

    aeon_name = ALIASES.get(name, name)
    bundled = bundled_aeon_sets()
    matches = [n for n in bundled if n.lower() == aeon_name.lower()]
    if not matches:
        raise DatasetError(
            f"unknown series data set {name!r}{suggest(aeon_name, bundled + list(ALIASES))}: "
            f"use one of {', '.join(bundled)}, "
            "uci_har, or a path to your own .npz / _TRAIN.ts file"
        )
    aeon_name = matches[0]
    X_train, y_train = load_classification(aeon_name, split="train")
    X_test, y_test = load_classification(aeon_name, split="test")
    return series_dataset(
        name,
        _from_aeon(X_train),
        y_train,
        _from_aeon(X_test),
        y_test,
        channel_names=CHANNEL_NAMES.get(aeon_name),
        license=AEON_LICENSE,
    )


def load_series_file(path: str | Path) -> SeriesDataset:
    """Your own series: an ``.npz`` (see ``NPZ_LAYOUT``) or an
    aeon/UCR ``.ts`` training file next to its ``_TEST.ts``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(
            f"series file {path} does not exist: give the path of an .npz "
            f"({NPZ_LAYOUT}) or of a NAME_TRAIN.ts file"
        )
    if path.suffix == ".ts":
        from aeon.datasets import load_from_ts_file

        test_path = path.with_name(path.name.replace("_TRAIN", "_TEST"))
        if test_path == path or not test_path.is_file():
            raise DatasetError(f"{path} needs its test split next to it as {test_path.name}")
        X_train, y_train = load_from_ts_file(str(path))
        X_test, y_test = load_from_ts_file(str(test_path))
        return series_dataset(
            path.stem.replace("_TRAIN", ""),
            _from_aeon(X_train),
            y_train,
            _from_aeon(X_test),
            y_test,
        )
    if path.suffix != ".npz":
        raise DatasetError(
            f"{path}: own series must be an .npz ({NPZ_LAYOUT}) or a NAME_TRAIN.ts file"
        )
    with np.load(path, allow_pickle=False) as npz:
        missing = [
            key for key in ("X_train", "y_train", "X_test", "y_test") if key not in npz.files
        ]
        if missing:
            raise DatasetError(f"{path} lacks {', '.join(missing)}: the layout is {NPZ_LAYOUT}")
        arrays = {key: npz[key] for key in npz.files}
    train, test = (list(_as_series(arrays[key], key, path)) for key in ("X_train", "X_test"))
    return series_dataset(
        path.stem,
        train,
        arrays["y_train"],
        test,
        arrays["y_test"],
        class_names=arrays.get("class_names"),
        channel_names=arrays.get("channel_names"),
    )


def _as_series(X: np.ndarray, key: str, path: Path) -> list[np.ndarray]:
    if X.ndim == 2:  # univariate (N, T)
        X = X[..., None]
    if X.ndim != 3:
        raise DatasetError(f"{path}: {key} has shape {X.shape}; expected (N, T, C) or (N, T)")
    # NaN steps at the end mark shorter series
    return [x[~np.isnan(x).all(axis=1)] for x in X.astype(np.float32)]


def load_uci_har_series() -> SeriesDataset:
    """UCI HAR (9 inertial channels, 128 steps); needs ``python data_download.py uci_har`` first."""
    from helpers.data.remote import UCI_HAR_LICENSE, load_uci_har

    X_train, y_train, X_test, y_test, class_names, channel_names = load_uci_har()
    lengths_train, lengths_test = (
        np.full(len(X_train), X_train.shape[1]),
        np.full(len(X_test), X_test.shape[1]),
    )
    return SeriesDataset(
        "uci_har",
        X_train,
        y_train,
        X_test,
        y_test,
        class_names,
        channel_names,
        lengths_train,
        lengths_test,
        UCI_HAR_LICENSE,
    )


def load_series(spec: str) -> SeriesDataset:
    """A series data set: an aeon set by name (``GunPoint``,
    ``basic_motions``), ``uci_har``, or a path to your own file."""
    if spec == "uci_har":
        return load_uci_har_series()
    if spec.endswith((".npz", ".ts")):
        return load_series_file(spec)
    return load_aeon(spec)


def recurrence_images(
    X: np.ndarray, lengths: np.ndarray | None = None, image_size: int = 96, clip: float = 4.0
) -> np.ndarray:
    """Render each standardized series as a grid of per-channel
    recurrence plots: (N, S, S, 3) float32 in [0, 255].

    Channel ``c``'s tile is the distance matrix ``|x_c(i) - x_c(j)|`` over the real steps, clipped
    at ``clip`` (standard deviations), resized to its grid cell; the gray picture is copied to RGB
    for an ImageNet CNN.
    """
    import cv2

    X = np.asarray(X, dtype=np.float32)
    n, length, n_channels = X.shape
    lengths = np.full(n, length) if lengths is None else np.asarray(lengths)
    cols = int(np.ceil(np.sqrt(n_channels)))
    rows = int(np.ceil(n_channels / cols))
    tile = image_size // max(rows, cols)
    images = np.zeros((n, image_size, image_size), dtype=np.float32)
    for i in range(n):
        series = X[i, : lengths[i]]
        for c in range(n_channels):
            picture = np.clip(np.abs(series[:, c, None] - series[None, :, c]), 0, clip) * (
                255.0 / clip
            )
            r, k = divmod(c, cols)
            images[i, r * tile : (r + 1) * tile, k * tile : (k + 1) * tile] = cv2.resize(
                picture, (tile, tile), interpolation=cv2.INTER_LINEAR
            )
    return np.repeat(images[..., None], 3, axis=-1)
