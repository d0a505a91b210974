"""Attribution by occlusion: how much a prediction relies on each channel of a multichannel
series."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.data.series import valid_mask


def channel_occlusion(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    target: np.ndarray,
    *,
    value: float = 0.0,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """(N, C): how much each sample's ``target`` class
    probability drops when one channel is replaced by ``value``.

    On standardized series ``value=0`` is the channel's training mean, so the channel is "switched
    off" and carries no information; padding stays padding.
    """
    X = np.asarray(X, np.float32)
    rows = np.arange(len(X))
    base = predict(X)[rows, target]
    drops = np.empty((len(X), X.shape[2]), dtype=np.float64)
    valid = np.ones(X.shape[:2], bool) if lengths is None else valid_mask(lengths, X.shape[1])
    for c in range(X.shape[2]):
        occluded = X.copy()
        occluded[..., c][valid] = value
        drops[:, c] = base - predict(occluded)[rows, target]
    return drops
