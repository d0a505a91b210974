"""Series loaders, padding, train-only standardization and recurrence rendering."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.datasets import DatasetError
from helpers.data.series import (
    NPZ_LAYOUT,
    ChannelStandardizer,
    bundled_aeon_sets,
    load_series,
    pad_series,
    recurrence_images,
    series_dataset,
    standardize,
    valid_mask,
)


def test_pad_series_right_pads_and_reports_lengths():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.ones((1, 2), dtype=np.float32)
    X, lengths = pad_series([a, b], length=4, value=-1.0)
    assert X.shape == (2, 4, 2) and X.dtype == np.float32
    np.testing.assert_array_equal(lengths, [3, 1])
    np.testing.assert_array_equal(X[0, :3], a)
    assert (X[0, 3] == -1).all() and (X[1, 1:] == -1).all()
    with pytest.raises(ValueError):
        pad_series([a], length=2)


def test_valid_mask():
    np.testing.assert_array_equal(
        valid_mask(np.array([2, 0, 3]), 3), [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
    )


def test_standardizer_uses_real_steps_only_and_keeps_padding_zero():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 2.0, size=(4, 10, 3)).astype(np.float32)
    lengths = np.array([10, 6, 8, 3])
    X[valid_mask(lengths, 10) == 0] = 1000.0  # padding must not leak into the statistics
    scaler = ChannelStandardizer().fit(X, lengths=lengths)
    real = X[valid_mask(lengths, 10)]
    np.testing.assert_allclose(scaler.mean_, real.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale_, real.std(axis=0), rtol=1e-6)
    Z = scaler.transform(X, lengths)
    np.testing.assert_allclose(Z[valid_mask(lengths, 10)].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[valid_mask(lengths, 10)].std(axis=0), 1.0, atol=1e-5)
    assert (Z[~valid_mask(lengths, 10)] == 0).all()
    with pytest.raises(ValueError):
        scaler.transform(X[..., :2])


def test_basic_motions_loads_offline_with_train_only_scaling():
    ds = load_series("basic_motions")
    assert ds.X_train.shape == (40, 100, 6) and ds.X_test.shape == (40, 100, 6)
    assert ds.class_names == ["badminton", "running", "standing", "walking"]
    assert np.bincount(ds.y_train).tolist() == [10, 10, 10, 10]
    assert not ds.variable_length
    scaled, scaler = standardize(ds)
    np.testing.assert_allclose(scaled.X_train.reshape(-1, 6).mean(axis=0), 0, atol=1e-4)
    # the test split is transformed with the training statistics, not its own
    np.testing.assert_allclose(
        scaled.X_test, (ds.X_test - scaler.mean_) / scaler.scale_, rtol=1e-4, atol=1e-4
    )


def test_japanese_vowels_is_padded_and_masked():
    ds = load_series("japanese_vowels")
    assert ds.X_train.shape == (270, 29, 12) and ds.X_test.shape == (370, 29, 12)
    assert ds.variable_length and ds.lengths_train.min() >= 7 and ds.lengths_test.max() == 29
    assert ds.class_names == [str(i) for i in range(1, 10)]
    scaled, _ = standardize(ds)
    mask = valid_mask(scaled.lengths_test, 29)
    assert (scaled.X_test[~mask] == 0).all()
    assert (np.abs(scaled.X_test[mask]).sum(axis=-1) > 0).all()  # no real step looks like padding


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown series data set"):
        load_series("nope")
    with pytest.raises(DatasetError, match="did you mean 'GunPoint'"):
        load_series("GunPont")


def test_recurrence_images_shape_range_and_tiles():
    X = np.zeros((2, 5, 3), np.float32)
    X[0, :, 1] = np.arange(5)  # only channel 1 varies
    images = recurrence_images(X, lengths=np.array([5, 2]), image_size=20)
    assert images.shape == (2, 20, 20, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    assert images[0, :10, 10:20].max() > 0  # channel 1: first row, second tile
    assert images[0, :10, :10].max() == 0 and images[1].max() == 0


def test_uci_har_goes_through_remote_datasets(monkeypatch):
    import helpers.data.remote as remote

    rng = np.random.default_rng(0)
    fake = (
        rng.normal(size=(6, 128, 9)).astype(np.float32),
        np.arange(6) % 6,
        rng.normal(size=(4, 128, 9)).astype(np.float32),
        np.arange(4),
        [f"a{i}" for i in range(6)],
        [f"c{i}" for i in range(9)],
    )
    monkeypatch.setattr(remote, "load_uci_har", lambda root=None: fake)
    ds = load_series("uci_har")
    assert ds.name == "uci_har" and ds.X_train.shape == (6, 128, 9) and ds.n_classes == 6
    assert ds.channel_names == fake[5] and not ds.variable_length
    np.testing.assert_array_equal(ds.lengths_test, [128] * 4)


def test_every_bundled_aeon_classification_set_loads_by_its_aeon_name():
    names = bundled_aeon_sets()
    assert {
        "GunPoint",
        "ItalyPowerDemand",
        "ArrowHead",
        "BasicMotions",
        "JapaneseVowels",
        "PickupGestureWiimoteZ",
    } <= set(names)
    gun = load_series("GunPoint")
    assert (
        gun.X_train.shape == (50, 150, 1)
        and gun.X_test.shape == (150, 150, 1)
        and gun.class_names == ["1", "2"]
    )
    assert gun.channel_names == ["channel_0"] and not gun.variable_length
    # any case; unequal lengths are padded to the longest of both splits
    pickup = load_series("pickupgesturewiimotez")
    assert pickup.variable_length and pickup.X_train.shape[1] == max(
        pickup.lengths_train.max(), pickup.lengths_test.max()
    )


def test_a_test_series_longer_than_every_training_series_fits():
    train = [np.ones((5, 2)), np.ones((7, 2))]
    test = [np.ones((9, 2))]
    ds = series_dataset("mine", train, ["a", "b"], test, ["b"])
    assert ds.X_train.shape == (2, 9, 2) and ds.X_test.shape == (1, 9, 2)
    assert ds.lengths_train.tolist() == [5, 7] and ds.lengths_test.tolist() == [9]
    assert (
        ds.y_train.tolist() == [0, 1] and ds.y_test.tolist() == [1] and ds.class_names == ["a", "b"]
    )


def test_own_npz_with_equal_or_unequal_lengths(tmp_path):
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(6, 12, 3)).astype(np.float32)
    X_test = rng.normal(size=(4, 15, 3)).astype(np.float32)
    X_test[0, 10:] = np.nan  # NaN steps at the end: a shorter series
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        X_train=X_train,
        y_train=np.arange(6) % 2,
        X_test=X_test,
        y_test=np.arange(4) % 2,
        class_names=np.array(["off", "on"]),
    )
    ds = load_series(str(path))
    assert ds.name == "mine" and ds.class_names == ["off", "on"] and ds.X_train.shape == (6, 15, 3)
    assert ds.lengths_test.tolist() == [10, 15, 15, 15] and ds.lengths_train.tolist() == [12] * 6
    np.testing.assert_allclose(ds.X_test[0, :10], X_test[0, :10])
    univariate = tmp_path / "uni.npz"
    np.savez(
        univariate,
        X_train=rng.normal(size=(4, 8)),
        y_train=[1, 2, 1, 2],
        X_test=rng.normal(size=(2, 8)),
        y_test=[2, 1],
    )
    assert load_series(str(univariate)).X_train.shape == (4, 8, 1)
    broken = tmp_path / "broken.npz"
    np.savez(broken, X_train=X_train)
    with pytest.raises(DatasetError, match="lacks y_train, X_test, y_test"):
        load_series(str(broken))
    assert "X_train" in NPZ_LAYOUT


def test_own_ts_files(tmp_path):
    header = (
        "@problemName mine\n@timeStamps false\n@missing false\n@univariate "
        "true\n@equalLength false\n@classLabel true a b\n@data\n"
    )
    (tmp_path / "mine_TRAIN.ts").write_text(header + "1,2,3,4:a\n4,3,2:b\n1,1,2,3,5:a\n")
    (tmp_path / "mine_TEST.ts").write_text(header + "1,2,3,4,5,6:a\n")
    ds = load_series(str(tmp_path / "mine_TRAIN.ts"))
    assert (
        ds.X_train.shape == (3, 6, 1)
        and ds.lengths_train.tolist() == [4, 3, 5]
        and ds.lengths_test.tolist() == [6]
    )
    assert ds.y_train.tolist() == [0, 1, 0] and ds.class_names == ["a", "b"]
    with pytest.raises(DatasetError, match="needs its test split"):
        (tmp_path / "other_TRAIN.ts").write_text(header + "1,2:a\n")
        load_series(str(tmp_path / "other_TRAIN.ts"))
