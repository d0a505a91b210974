"""The synthetic telemetry generator: faults are where the labels say, and only there."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.telemetry import (
    CHANNEL_NAMES,
    FAULT_TYPES,
    make_telemetry,
    telemetry_dataset,
)


@pytest.fixture(scope="module")
def telemetry():
    return make_telemetry(200, length=128, random_state=3)


def test_shapes_and_balance(telemetry):
    assert telemetry.X.shape == (200, 128, len(CHANNEL_NAMES)) and telemetry.X.dtype == np.float32
    assert np.bincount(telemetry.y).tolist() == [40] * len(FAULT_TYPES)
    assert telemetry.class_names == FAULT_TYPES


def test_windows_and_channels_follow_labels(telemetry):
    normal = telemetry.y == 0
    assert (telemetry.windows[normal] == -1).all() and (telemetry.fault_channel[normal] == -1).all()
    start, stop = telemetry.windows[~normal].T
    assert (start >= 0).all() and (stop <= 128).all()
    assert ((stop - start) >= 12).all() and ((stop - start) <= 20).all()
    channels = telemetry.fault_channel
    assert set(channels[telemetry.y == 1]) <= {0, 1, 2} and set(channels[telemetry.y == 2]) <= {
        0,
        1,
        2,
    }
    assert (channels[telemetry.y == 3] == 3).all() and (channels[telemetry.y == 4] == 4).all()


def test_signature_lies_inside_the_window_on_the_fault_channel_only():
    """Same seed without faults gives the background: the difference is exactly the signature."""
    faulty = make_telemetry(100, random_state=11)
    clean = make_telemetry(100, random_state=11, with_faults=False)
    np.testing.assert_array_equal(faulty.y, clean.y)
    np.testing.assert_array_equal(faulty.windows, clean.windows)
    difference = faulty.X - clean.X
    for i in range(100):
        if faulty.y[i] == 0:
            assert (difference[i] == 0).all()
            continue
        start, stop = faulty.windows[i]
        channel = faulty.fault_channel[i]
        inside = np.zeros(difference.shape[1:], bool)
        inside[start:stop, channel] = True
        assert (difference[i][~inside] == 0).all()
        assert np.abs(difference[i, start:stop, channel]).max() > 0.5


def test_fault_stands_out_from_its_own_run():
    t = make_telemetry(300, random_state=5)
    for label in range(1, len(FAULT_TYPES)):
        wins = []
        for i in np.flatnonzero(t.y == label):
            (start, stop), c = t.windows[i], t.fault_channel[i]
            x = np.abs(t.X[i, :, c] - np.median(t.X[i, :, c]))
            wins.append(x[start:stop].max() > np.r_[x[:start], x[stop:]].max())
        assert np.mean(wins) > 0.9, FAULT_TYPES[label]


def test_reproducible_with_random_state():
    a, b, c = (
        make_telemetry(20, random_state=1),
        make_telemetry(20, random_state=1),
        make_telemetry(20, random_state=2),
    )
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.windows, b.windows)
    assert not np.array_equal(a.X, c.X)


def test_dataset_split_keeps_windows_aligned(telemetry):
    ds = telemetry_dataset(telemetry, test_size=0.25, random_state=0)
    assert len(ds.y_train) == 150 and len(ds.y_test) == 50
    assert ds.meta["windows_test"].shape == (50, 2)
    for x, w in zip(ds.X_test, ds.meta["windows_test"]):
        row = np.flatnonzero((telemetry.X == x).all(axis=(1, 2)))[0]
        np.testing.assert_array_equal(telemetry.windows[row], w)
