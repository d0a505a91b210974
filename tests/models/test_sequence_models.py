"""FCN and LSTM builders, training with timings, latency and channel occlusion."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.explain.cam import class_activation_maps, gap_head
from helpers.sequence_models import (
    build_fcn,
    build_lstm,
    channel_occlusion,
    inference_latency,
    keras_predict,
    train_classifier,
)


def test_fcn_shapes_and_gap_head():
    model = build_fcn(50, 4, 3)
    assert model.input_shape == (None, 50, 4) and model.output_shape == (None, 3)
    assert [model.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [128, 256, 128]
    assert [model.get_layer(f"conv{i}").kernel_size for i in (1, 2, 3)] == [(8,), (5,), (3,)]
    gap, dense = gap_head(model)
    assert gap.name == "gap" and dense.name == "classifier"
    probabilities = model.predict(np.random.default_rng(0).normal(size=(2, 50, 4)).astype("float32"), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fcn_cam_is_one_value_per_step_and_averages_to_the_logit():
    model = build_fcn(None, 2, 3, filters=(8, 8, 8))
    x = np.random.default_rng(1).normal(size=(3, 40, 2)).astype("float32")
    maps = class_activation_maps(model, x, class_index=1)
    assert maps.shape == (3, 40)
    bias = model.get_layer("classifier").bias.numpy()
    logits = np.log(model.predict(x, verbose=0))
    # softmax is shift-invariant: compare logit differences between classes 1 and the CAM of class 1 vs 0
    maps0 = class_activation_maps(model, x, class_index=0)
    np.testing.assert_allclose(
        maps.mean(axis=1) + bias[1] - maps0.mean(axis=1) - bias[0], logits[:, 1] - logits[:, 0], rtol=1e-3, atol=1e-4
    )


def test_masked_fcn_ignores_right_padding_exactly():
    model = build_fcn(None, 3, 2, filters=(8, 8, 8), masked=True)
    rng = np.random.default_rng(2)
    series = rng.normal(size=(1, 12, 3)).astype("float32")
    padded = np.concatenate([series, np.zeros((1, 8, 3), np.float32)], axis=1)
    np.testing.assert_allclose(model.predict(series, verbose=0), model.predict(padded, verbose=0), rtol=1e-5, atol=1e-6)
    unmasked = build_fcn(None, 3, 2, filters=(8, 8, 8), masked=False)
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked.predict(series, verbose=0), unmasked.predict(padded, verbose=0), atol=1e-6)
    maps = class_activation_maps(model, padded, class_index=0)
    assert maps.shape == (1, 20) and (maps[0, 12:] == 0).all()


def test_lstm_keeps_cudnn_settings_and_masks_padding():
    model = build_lstm(None, 3, 4, units=8, masked=True)
    lstm = model.get_layer("lstm")
    assert lstm.activation is keras.activations.tanh and lstm.recurrent_activation is keras.activations.sigmoid
    assert lstm.recurrent_dropout == 0 and not lstm.unroll and lstm.use_bias
    assert model.output_shape == (None, 4)
    series = np.random.default_rng(3).normal(size=(1, 6, 3)).astype("float32")
    padded = np.concatenate([series, np.zeros((1, 5, 3), np.float32)], axis=1)
    np.testing.assert_allclose(model.predict(series, verbose=0), model.predict(padded, verbose=0), rtol=1e-5, atol=1e-6)


def test_training_learns_a_trivial_task_reproducibly_and_times_epochs():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], 16)
    X = rng.normal(size=(32, 20, 2)).astype("float32")
    X[y == 1, :, 0] += 3.0
    runs = []
    for _ in range(2):
        model = build_fcn(20, 2, 2, filters=(8, 8, 8), seed=7)
        trained = train_classifier(model, X, y, epochs=10, batch_size=8, seed=7)
        runs.append(trained.history["loss"])
    assert len(trained.epoch_seconds) == 10 and trained.seconds_per_epoch > 0
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4)  # same seed, same run
    assert trained.history["accuracy"][-1] >= 0.9


def test_channel_occlusion_finds_the_only_informative_channel():
    def predict(X):  # class 1 probability rises with channel 2's mean
        p = 1 / (1 + np.exp(-X[:, :, 2].mean(axis=1) * 5))
        return np.stack([1 - p, p], axis=1)

    X = np.zeros((4, 10, 3), np.float32)
    X[:, :, 2] = 1.0
    X[:, :, 0] = np.random.default_rng(5).normal(size=(4, 10))
    drops = channel_occlusion(predict, X, np.ones(4, int))
    assert drops.shape == (4, 3)
    np.testing.assert_allclose(drops[:, [0, 1]], 0.0)
    assert (drops[:, 2] > 0.4).all()
    # padding is left alone: with lengths, only real steps are replaced
    lengths = np.array([5, 5, 5, 5])
    partial = channel_occlusion(predict, X, np.ones(4, int), lengths=lengths)
    assert (partial[:, 2] < drops[:, 2]).all()


def test_inference_latency_reports_positive_seconds():
    model = build_fcn(10, 2, 2, filters=(4, 4, 4))
    latency = inference_latency(keras_predict(model), np.zeros((6, 10, 2), np.float32), repeats=2)
    assert set(latency) == {"batched", "single"} and latency["batched"] > 0 and latency["single"] > 0
