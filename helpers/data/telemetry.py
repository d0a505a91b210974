"""Synthetic machine telemetry with faults at known times and channels, to score where a CAM points.

Each sample is a machine run of ``length`` steps with five channels: 3-axis
vibration (a rotation tone plus noise), temperature (slow drift) and motor
current (load plus ripple). Every class except ``normal`` adds one transient
fault signature inside a window ``[start, stop)`` on one channel, and nowhere
else, so the true "when" and "where" of each label are known:

- ``bearing_impact``: a train of sharp decaying impulses on one vibration axis;
- ``imbalance``: the rotation tone grows (smooth envelope) on one vibration axis;
- ``overheat``: a temperature bump;
- ``current_surge``: a current bump with stronger ripple.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from helpers.data.series import SeriesDataset

CHANNEL_NAMES = ["vib_x", "vib_y", "vib_z", "temperature", "current"]
FAULT_TYPES = ["normal", "bearing_impact", "imbalance", "overheat", "current_surge"]
_VIBRATION = (0, 1, 2)
_TEMPERATURE, _CURRENT = 3, 4


@dataclass
class Telemetry:
    """Generated runs: ``X`` (N, T, C) float32, ``y`` fault type index, and where each fault is.

    ``windows[i] = (start, stop)`` and ``fault_channel[i]``
    are ``(-1, -1)`` and ``-1`` for normal runs.
    """

    X: np.ndarray
    y: np.ndarray
    windows: np.ndarray
    fault_channel: np.ndarray
    class_names: list[str]
    channel_names: list[str]


def _hann(n: int) -> np.ndarray:
    return np.hanning(n + 2)[1:-1]  # strictly positive inside the window, zero just outside


def make_telemetry(
    n_samples: int = 1000,
    length: int = 128,
    *,
    window_fraction: tuple[float, float] = (0.1, 0.15),
    noise: float = 0.3,
    with_faults: bool = True,
    random_state: int | None = None,
) -> Telemetry:
    """Generate ``n_samples`` runs with (near) balanced fault types; see the module docstring.

    ``with_faults=False`` returns the very same runs (same seed, same labels and
    windows) without the fault signatures: the background each fault sits on.
    """
    rng = np.random.default_rng(random_state)
    n_classes = len(FAULT_TYPES)
    y = rng.permutation(np.arange(n_samples) % n_classes)
    t = np.arange(length, dtype=np.float64)
    X = np.empty((n_samples, length, len(CHANNEL_NAMES)))
    windows = np.full((n_samples, 2), -1, dtype=np.int64)
    fault_channel = np.full(n_samples, -1, dtype=np.int64)
    for i in range(n_samples):
        freq = rng.uniform(0.05, 0.09)  # rotation, cycles per step
        phase = rng.uniform(0, 2 * np.pi, 3)
        amplitude = rng.uniform(0.8, 1.2, 3)
        for axis in _VIBRATION:
            X[i, :, axis] = amplitude[axis] * np.sin(
                2 * np.pi * freq * t + phase[axis]
            ) + noise * rng.standard_normal(length)
        drift = np.cumsum(rng.standard_normal(length)) * 0.02
        X[i, :, _TEMPERATURE] = 45 + rng.uniform(-3, 3) + drift + 0.1 * rng.standard_normal(length)
        load = rng.uniform(4.0, 6.0)
        X[i, :, _CURRENT] = (
            load + 0.2 * np.sin(2 * np.pi * 2 * freq * t) + 0.1 * rng.standard_normal(length)
        )
        label = y[i]
        if label == 0:
            continue
        width = int(round(rng.uniform(*window_fraction) * length))
        start = int(rng.integers(0, length - width + 1))
        stop = start + width
        envelope = _hann(width)
        signature = np.zeros(width)
        if label == 1:  # bearing impacts: impulses every few steps, ringing down quickly
            channel = int(rng.choice(_VIBRATION))
            spacing = int(rng.integers(3, 6))
            impulses = np.zeros(width)
            for k in range(int(rng.integers(0, spacing)), width, spacing):
                decay = np.exp(-np.arange(width - k) / 1.0) * np.cos(
                    np.pi * np.arange(width - k) / 1.5
                )
                impulses[k:] += rng.uniform(2.5, 3.5) * rng.choice([-1, 1]) * decay
            signature = impulses
        elif label == 2:  # imbalance: the rotation tone grows smoothly
            channel = int(rng.choice(_VIBRATION))
            tone = amplitude[channel] * np.sin(2 * np.pi * freq * t[start:stop] + phase[channel])
            signature = rng.uniform(1.5, 2.5) * envelope * tone
        elif label == 3:  # overheat: a temperature bump
            channel = _TEMPERATURE
            signature = rng.uniform(2.0, 3.0) * envelope
        else:  # current surge: a current bump with stronger ripple
            channel = _CURRENT
            ripple = 0.4 * np.sin(2 * np.pi * 4 * freq * t[start:stop])
            signature = rng.uniform(1.0, 1.5) * envelope + envelope * ripple
        if with_faults:
            X[i, start:stop, channel] += signature
        windows[i] = (start, stop)
        fault_channel[i] = channel
    return Telemetry(
        X.astype(np.float32), y, windows, fault_channel, list(FAULT_TYPES), list(CHANNEL_NAMES)
    )


def telemetry_dataset(
    telemetry: Telemetry, test_size: float = 0.3, random_state: int | None = 0
) -> SeriesDataset:
    """A stratified train/test ``SeriesDataset``; ``meta``
    holds the test runs' ``windows`` and ``fault_channel``."""
    index = np.arange(len(telemetry.y))
    train, test = train_test_split(
        index, test_size=test_size, stratify=telemetry.y, random_state=random_state
    )
    length = telemetry.X.shape[1]
    return SeriesDataset(
        "telemetry",
        telemetry.X[train],
        telemetry.y[train],
        telemetry.X[test],
        telemetry.y[test],
        list(telemetry.class_names),
        list(telemetry.channel_names),
        np.full(len(train), length),
        np.full(len(test), length),
        "synthetic (helpers.telemetry)",
        meta={
            "windows_train": telemetry.windows[train],
            "windows_test": telemetry.windows[test],
            "fault_channel_train": telemetry.fault_channel[train],
            "fault_channel_test": telemetry.fault_channel[test],
        },
    )
