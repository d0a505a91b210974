"""Training helpers: devices, augmentation, class weights, validation split, samplers, callbacks, recipe."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from helpers.data.datasets import ImageDataset
from helpers.models.features import dihedral_view
from helpers.models.gap import build_gap_classifier, split_at
from helpers.models.training import (
    SaveBestModel,
    ViewSampler,
    brightness_contrast,
    cache_feature_maps,
    carve_validation,
    class_weights,
    compile_classifier,
    configure_devices,
    fit_stage,
    fit_two_stage,
    make_augmentation,
    random_dihedral,
    training_callbacks,
)


def test_configure_devices_cpu_default():
    setup = configure_devices()
    if not tf.config.list_physical_devices("GPU"):
        assert setup.gpus == [] and not setup.mixed_precision
        assert keras.mixed_precision.global_policy().name == "float32"
        assert setup.strategy.num_replicas_in_sync == 1
        assert "CPU" in setup.describe()


def test_class_weights_balance_the_loss():
    labels = np.array([0] * 6 + [1] * 2)
    weights = class_weights(labels)
    assert weights == {0: 8 / 12, 1: 8 / 4}
    assert sum(weights[k] * np.sum(labels == k) for k in (0, 1)) == pytest.approx(len(labels))
    assert class_weights(np.array([0, 0]), 2)[1] == 0.0


def test_carve_validation_is_stratified_disjoint_and_deterministic():
    indices = np.arange(100, 300)
    strata = np.array(["a", "b"] * 200)
    fit, val = carve_validation(indices, strata, 0.2, seed=3)
    assert len(val) == 40 and len(fit) == 160
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(indices)
    assert np.sum(strata[val] == "a") == 20
    again = carve_validation(indices, strata, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)


def test_random_dihedral_returns_one_of_the_eight_views():
    images = tf.random.uniform((16, 5, 5, 3))
    out = random_dihedral(images).numpy()
    for i in range(16):
        views = [dihedral_view(images[i : i + 1], v).numpy()[0] for v in range(8)]
        assert any(np.array_equal(out[i], view) for view in views)


def test_brightness_contrast_is_mild_and_in_range():
    images = tf.fill((4, 8, 8, 3), 100.0) + tf.random.uniform((4, 8, 8, 3), -50, 50)
    out = brightness_contrast(images, 0.1, 0.1).numpy()
    assert out.min() >= 0 and out.max() <= 255
    mean_shift = np.abs(out.mean(axis=(1, 2, 3)) - images.numpy().mean(axis=(1, 2, 3)))
    assert np.all(mean_shift <= 0.1 * 255 + 1e-3)
    assert not np.allclose(out, images.numpy())
    same = make_augmentation(dihedral=False, brightness=0.0, contrast=0.0)(images).numpy()
    np.testing.assert_allclose(same, images.numpy(), atol=1e-4)


def test_view_sampler_draws_each_sample_once_per_epoch_in_some_view():
    arrays = np.stack([np.arange(10)[:, None] + 100 * v for v in range(3)]).astype(np.float16)  # (3, 10, 1)
    labels = np.arange(10)
    sampler = ViewSampler(arrays, labels, batch_size=4, seed=0)
    assert len(sampler) == 3
    xs, ys = zip(*(sampler[i] for i in range(len(sampler))))
    x, y = np.concatenate(xs)[:, 0], np.concatenate(ys)
    assert sorted(y) == list(range(10))
    np.testing.assert_array_equal(x % 100, y)  # the right sample, in any view
    assert x.dtype == np.float32
    plain = ViewSampler(arrays[:1], labels, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(plain[0][1], [0, 1, 2, 3])
    with pytest.raises(ValueError):
        ViewSampler(arrays, labels[:5])


def _tiny_dataset(n=24, size=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    images[labels == 1, size // 4 : size // 2, :] = 230  # a bright bar marks class 1
    meta = pd.DataFrame({"stratum": labels})
    return ImageDataset("tiny", labels, ["dark", "bar"], meta, images=images)


def test_cache_feature_maps_are_the_maps_of_each_view():
    ds = _tiny_dataset(6)
    model = build_gap_classifier(2, image_size=32, weights=None)
    lower, _ = split_at(model, "block_12_add")
    maps = cache_feature_maps(lower, ds, np.arange(6), 32, views=3, dtype="float32", progress=False)
    assert maps.shape == (3, 6, 2, 2, 96)
    images = tf.cast(tf.image.grayscale_to_rgb(tf.constant(ds.images[..., None])), tf.float32)
    for view in range(3):
        expected = lower(dihedral_view(images, view), training=False).numpy()
        np.testing.assert_allclose(maps[view], expected, rtol=1e-4, atol=1e-4)


def test_save_best_model_requires_keras_format_and_saves_target(tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        SaveBestModel(tmp_path / "x.h5")
    target = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    callback = SaveBestModel(tmp_path / "best.keras", target)
    callback.on_epoch_end(0, {"val_loss": 1.0})
    first = (tmp_path / "best.keras").stat().st_mtime_ns
    callback.on_epoch_end(1, {"val_loss": 2.0})  # worse: not saved again
    assert (tmp_path / "best.keras").stat().st_mtime_ns == first
    assert isinstance(keras.models.load_model(tmp_path / "best.keras"), keras.Model)
    callbacks = training_callbacks(tmp_path / "c.keras", patience=2)
    assert isinstance(callbacks[0], keras.callbacks.EarlyStopping) and callbacks[0].restore_best_weights


def test_fit_two_stage_trains_head_then_top_only(tmp_path):
    from helpers.models.features import image_batches
    from helpers.models.gap import backbone_layers

    ds = _tiny_dataset(16)
    model = build_gap_classifier(2, image_size=32, weights=None)
    frozen_low = model.get_layer("block_1_project")
    before = frozen_low.get_weights()[0].copy()
    train = image_batches(ds, np.arange(12), 32, 4, shuffle=True, augment=make_augmentation())
    val = image_batches(ds, np.arange(12, 16), 32, 4)
    result = fit_two_stage(model, train, val, head_epochs=2, fine_tune_epochs=1, checkpoint_dir=tmp_path, n_train=12)
    assert result.epochs_run == 3 and [s.name for s in result.stages] == ["head", "fine-tune"]
    assert list(result.curves()["stage"]) == ["head", "head", "fine-tune"]
    assert (tmp_path / "head.keras").exists() and (tmp_path / "fine_tuned.keras").exists()
    np.testing.assert_array_equal(frozen_low.get_weights()[0], before)
    assert model.get_layer("Conv_1").trainable and not model.get_layer("Conv_1_bn").trainable
    assert result.train_seconds > 0 and result.head.images_per_s > 0


def test_fit_stage_halves_the_learning_rate_on_a_plateau():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 2, 32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    # validation labels are noise unrelated to x: the validation loss soon stops improving
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    stage = fit_stage(model, train, (x[:8], 1 - y[:8]), name="s", epochs=6, learning_rate=0.1, patience=10, reduce_lr_patience=1)
    rates = stage.history["learning_rate"].to_numpy()
    assert rates[0] == pytest.approx(0.1) and rates[-1] < 0.1
    assert set(np.round(rates / 0.1, 6)) <= {1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125}
    callbacks = training_callbacks(patience=2, reduce_lr_patience=3)
    assert isinstance(callbacks[1], keras.callbacks.ReduceLROnPlateau) and callbacks[1].patience == 3


def test_compile_classifier_soft_targets_is_the_cross_entropy_against_probabilities():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3)).astype("float32")
    positive = np.array([0.0, 1 / 3, 2 / 3, 1.0, 1 / 3, 1.0], "float32")
    targets = np.stack([1 - positive, positive], 1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    compile_classifier(model, 1e-3, soft_targets=True)
    proba = model.predict(x, verbose=0)
    loss, accuracy = model.evaluate(x, targets, verbose=0)
    assert loss == pytest.approx(float(np.mean(-(targets * np.log(proba)).sum(1))), rel=1e-5)
    assert accuracy == pytest.approx(float(np.mean(proba.argmax(1) == targets.argmax(1))))
    compile_classifier(model, 1e-3)  # hard labels: the same loss as one-hot targets
    hard = targets.argmax(1)
    assert model.evaluate(x, hard, verbose=0)[0] == pytest.approx(float(np.mean(-np.log(proba[np.arange(6), hard]))), rel=1e-5)
    stage = fit_stage(model, ViewSampler(x[None], targets, batch_size=3), (x, targets), name="soft", epochs=2, learning_rate=1e-2, soft_targets=True)
    assert stage.epochs_run == 2 and np.isfinite(stage.history["val_loss"]).all()
