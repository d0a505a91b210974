"""Multichannel time-series data sets as (N, T, C) arrays: loaders, padding with masks, standardization.

Layout is channels last, ``(samples, time steps, channels)``, which is what
Keras' ``Conv1D`` and ``LSTM`` take. Variable-length series are right-padded
with zeros to one length; ``lengths`` says how many steps of each are real.
After ``ChannelStandardizer`` (fitted on training steps only) the padding value
0 equals every channel's training mean, and ``valid_mask`` marks the real steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

#: Data set name -> (aeon name, channel names, license).
AEON_SETS = {
    "basic_motions": (
        "BasicMotions",
        ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
        "UEA archive (Bagnall et al. 2018), bundled with aeon (BSD-3)",
    ),
    "japanese_vowels": (
        "JapaneseVowels",
        [f"lpc_{i + 1}" for i in range(12)],
        "UCI Japanese Vowels (Kudo et al. 1999), CC BY 4.0, bundled with aeon (BSD-3)",
    ),
}
SERIES_DATASETS = (*AEON_SETS, "uci_har")


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


def pad_series(series: Sequence[np.ndarray], length: int | None = None, value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
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


class ChannelStandardizer(TransformerMixin, BaseEstimator):
    """Per-channel z-scores fitted on the real (unpadded) steps of the training series only.

    ``transform`` keeps padded steps at exactly 0 (the training mean), so a
    padding mask can still be read from the data.
    """

    def __init__(self, epsilon: float = 1e-8):
        self.epsilon = epsilon

    def fit(self, X: np.ndarray, y=None, lengths: np.ndarray | None = None) -> "ChannelStandardizer":
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


def _encode_labels(y_train: np.ndarray, y_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    classes = sorted(set(map(str, y_train)) | set(map(str, y_test)))
    if all(c.isdigit() for c in classes):
        classes.sort(key=int)
    index = {c: i for i, c in enumerate(classes)}
    return (np.array([index[str(v)] for v in y_train]), np.array([index[str(v)] for v in y_test]), classes)


def _aeon_split(aeon_name: str, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    from aeon.datasets import load_classification

    X, y = load_classification(aeon_name, split=split)
    return [np.asarray(x, dtype=np.float32).T for x in X], np.asarray(y)  # aeon: (C, T) per series


def load_aeon_series(name: str) -> SeriesDataset:
    """BasicMotions or JapaneseVowels (aeon's bundled copies, offline), padded to the longest series."""
    aeon_name, channels, license_ = AEON_SETS[name]
    train, y_train = _aeon_split(aeon_name, "train")
    test, y_test = _aeon_split(aeon_name, "test")
    length = max(max(len(s) for s in train), max(len(s) for s in test))
    X_train, lengths_train = pad_series(train, length)
    X_test, lengths_test = pad_series(test, length)
    y_train, y_test, classes = _encode_labels(y_train, y_test)
    return SeriesDataset(name, X_train, y_train, X_test, y_test, classes, channels, lengths_train, lengths_test, license_)


def load_uci_har_series() -> SeriesDataset:
    """UCI HAR (9 inertial channels, 128 steps); needs ``python data_download.py uci_har`` first."""
    from helpers.remote_datasets import load_uci_har

    X_train, y_train, X_test, y_test, classes, channels = load_uci_har()
    return SeriesDataset(
        "uci_har", np.asarray(X_train, np.float32), np.asarray(y_train), np.asarray(X_test, np.float32),
        np.asarray(y_test), list(classes), list(channels),
        np.full(len(X_train), X_train.shape[1]), np.full(len(X_test), X_test.shape[1]),
        "UCI HAR (Anguita et al. 2013), CC BY 4.0",
    )


def load_series_dataset(name: str) -> SeriesDataset:
    """A series data set by name: ``basic_motions``, ``japanese_vowels`` (offline) or ``uci_har`` (downloaded)."""
    if name in AEON_SETS:
        return load_aeon_series(name)
    if name == "uci_har":
        return load_uci_har_series()
    raise ValueError(f"unknown series data set {name!r}: choose one of {', '.join(SERIES_DATASETS)}")


def standardize(ds: SeriesDataset) -> tuple[SeriesDataset, ChannelStandardizer]:
    """A copy of ``ds`` with per-channel z-scores fitted on its training split; also the fitted scaler."""
    scaler = ChannelStandardizer().fit(ds.X_train, lengths=ds.lengths_train)
    out = SeriesDataset(
        ds.name, scaler.transform(ds.X_train, ds.lengths_train), ds.y_train,
        scaler.transform(ds.X_test, ds.lengths_test), ds.y_test, ds.class_names, ds.channel_names,
        ds.lengths_train, ds.lengths_test, ds.license, dict(ds.meta),
    )
    return out, scaler


def recurrence_images(X: np.ndarray, lengths: np.ndarray | None = None, image_size: int = 96, clip: float = 4.0) -> np.ndarray:
    """Render each standardized series as a grid of per-channel recurrence plots: (N, S, S, 3) float32 in [0, 255].

    Channel ``c``'s tile is the distance matrix ``|x_c(i) - x_c(j)|`` over the real
    steps, clipped at ``clip`` (standard deviations), resized to its grid cell.
    Channels fill a near-square grid row by row; the gray picture is copied to RGB
    so an ImageNet CNN can read it.
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
            distances = np.abs(series[:, c, None] - series[None, :, c])
            picture = np.clip(distances, 0, clip) * (255.0 / clip)
            r, k = divmod(c, cols)
            images[i, r * tile : (r + 1) * tile, k * tile : (k + 1) * tile] = cv2.resize(
                picture, (tile, tile), interpolation=cv2.INTER_LINEAR
            )
    return np.repeat(images[..., None], 3, axis=-1)
