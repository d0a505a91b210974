"""Training plumbing: devices, batches from cached
views, epoch timing, BatchNorm statistics, latency."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.models.training import (
    EpochTimer,
    ViewSampler,
    configure_devices,
    inference_latency,
    recalibrate_batchnorm,
)


@pytest.fixture
def policy_reset():
    """``configure_devices`` sets Keras' global dtype policy: back to float32 for other tests."""
    yield
    keras.mixed_precision.set_global_policy("float32")


def one_training_step(setup) -> keras.Model:
    """A tiny model built and compiled in ``setup.strategy.scope()``, trained one step."""
    with setup.strategy.scope():
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        outputs = keras.layers.Dense(2, activation="softmax", dtype="float32")(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    X = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(X, np.arange(8) % 2, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # it learned
    return model


def test_configure_devices_default_follows_the_visible_gpus(policy_reset):
    gpus = tf.config.list_physical_devices("GPU")
    setup = configure_devices()
    assert setup.gpus == [gpu.name for gpu in gpus] and setup.mixed_precision == bool(gpus)
    assert keras.mixed_precision.global_policy().name == ("mixed_float16" if gpus else "float32")
    assert isinstance(setup.strategy, tf.distribute.MirroredStrategy) == bool(gpus)
    assert setup.strategy.num_replicas_in_sync == max(1, len(gpus))
    assert ("GPU(s)" if gpus else "CPU") in setup.describe()
    plain = configure_devices(mixed_precision=False, multi_gpu=False)
    assert not plain.mixed_precision and keras.mixed_precision.global_policy().name == "float32"
    assert plain.strategy is tf.distribute.get_strategy() and "policy float32" in plain.describe()


def test_configure_devices_drops_only_the_retracing_warning(policy_reset):
    configure_devices(mixed_precision=False, multi_gpu=False)
    configure_devices(mixed_precision=False, multi_gpu=False)  # the filter is added once
    logger = tf.get_logger()
    names = [getattr(f, "__name__", "") for f in logger.filters]
    assert names.count("_not_a_retracing_report") == 1

    def warning(message: str) -> logging.LogRecord:
        return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), None)

    retracing = "5 out of the last 13 calls to <function f> triggered tf.function retracing."
    assert not logger.filter(warning(retracing))
    assert logger.filter(warning("Gradients do not exist for variables"))


def test_mixed_precision_computes_in_float16_and_trains_with_loss_scaling(policy_reset):
    setup = configure_devices(mixed_precision=True, multi_gpu=False)
    assert setup.mixed_precision and keras.mixed_precision.global_policy().name == "mixed_float16"
    assert "policy mixed_float16" in setup.describe()
    model = one_training_step(setup)
    hidden, classifier = model.layers[1], model.layers[2]
    assert hidden.compute_dtype == "float16" and hidden.kernel.dtype == "float32"
    assert classifier.compute_dtype == "float32" and model.output.dtype == "float32"
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)


def test_the_mirrored_strategy_builds_and_trains_on_the_cpu(policy_reset):
    """The multi-GPU path (MirroredStrategy, variables mirrored per replica) over the CPU."""
    setup = configure_devices(mixed_precision=False, devices=["/cpu:0"])
    assert isinstance(setup.strategy, tf.distribute.MirroredStrategy)
    assert setup.strategy.num_replicas_in_sync == 1
    assert "strategy MirroredStrategy with 1 replica(s), policy float32" in setup.describe()
    assert [device.split("/")[-1] for device in setup.strategy.extended.worker_devices] == [
        "device:CPU:0"
    ]
    model = one_training_step(setup)
    assert all(
        isinstance(variable.value, tf.distribute.DistributedValues)
        for variable in model.trainable_variables
    )
    # multi_gpu=False still means the default strategy
    plain = configure_devices(mixed_precision=False, multi_gpu=False, devices=["/cpu:0"])
    assert plain.strategy is tf.distribute.get_strategy()


def test_view_sampler_draws_each_sample_once_per_epoch_in_some_view():
    # (3, 10, 1)
    arrays = np.stack([np.arange(10)[:, None] + 100 * v for v in range(3)]).astype(np.float16)
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


def small_bn_net(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((20, 2))
    x = keras.layers.Conv1D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv1D(8, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Activation("relu")(x))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


@pytest.mark.slow
def test_epoch_timer_and_reproducible_training():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], 16)
    X = rng.normal(size=(32, 20, 2)).astype("float32")
    X[y == 1, :, 0] += 3.0
    runs = []
    for _ in range(2):
        model = small_bn_net(seed=7)
        model.compile(
            keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        timer = EpochTimer()
        history = model.fit(X, y, epochs=10, batch_size=8, verbose=0, callbacks=[timer])
        runs.append(history.history["loss"])
    assert len(timer.seconds) == 10 and timer.seconds_per_epoch > 0
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4)  # same seed, same run


def test_recalibrated_batchnorm_predicts_in_inference_mode_what_training_mode_does():
    """After a few steps the moving averages are still
    near their start; recalibration makes them exact."""
    rng = np.random.default_rng(0)
    # far from BatchNorm's initial mean 0, variance 1
    X = (rng.normal(size=(64, 20, 2)) * 5 + 20).astype("float32")
    model = small_bn_net()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    # 2 steps: moving statistics barely moved
    model.fit(X, np.arange(64) % 2, epochs=1, batch_size=32, verbose=0)
    in_training = np.asarray(model(X, training=True))
    assert np.abs(np.asarray(model(X, training=False)) - in_training).max() > 0.05
    recalibrate_batchnorm(model, X, batch_size=16)
    np.testing.assert_allclose(np.asarray(model(X, training=False)), in_training, atol=2e-3)
    first = model.layers[2]
    probe = keras.Model(model.input, first.input)(X, training=False).numpy()
    np.testing.assert_allclose(
        first.moving_mean.numpy(), probe.mean(axis=(0, 1)), rtol=1e-4, atol=1e-5
    )


def test_inference_latency_reports_positive_seconds():
    model = small_bn_net()
    latency = inference_latency(
        lambda X: model.predict_on_batch(X), np.zeros((6, 20, 2), np.float32), repeats=2
    )
    assert (
        set(latency) == {"batched", "single"} and latency["batched"] > 0 and latency["single"] > 0
    )
