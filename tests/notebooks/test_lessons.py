"""The code the notebooks teach, tested outside them: notebook
05's FCN, LSTM and training protocol, 06's guided loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.data.series import PUBLISHED_FCN_ACCURACY, load_series, standardize
from helpers.explain.cam import class_activation_maps, contrast_cams, gap_head
from helpers.explain.heatmaps import cam_energy_share
from helpers.models.gap import predict_in_batches

from .lessons import lesson


@pytest.fixture(scope="module")
def series_lesson():
    return lesson("05")


def test_fcn_shapes_and_gap_head(series_lesson):
    model = series_lesson["make_fcn"](4, 3)
    assert model.input_shape == (None, None, 4) and model.output_shape == (None, 3)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [c.filters for c in convolutions] == [128, 256, 128] and [
        c.kernel_size for c in convolutions
    ] == [(8,), (5,), (3,)]
    gap, dense = gap_head(model)
    assert gap.name == "gap" and dense.name == "classifier"
    probabilities = model.predict(
        np.random.default_rng(0).normal(size=(2, 50, 4)).astype("float32"), verbose=0
    )
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fcn_cam_is_one_value_per_step_and_averages_to_the_logit(series_lesson):
    model = series_lesson["make_fcn"](2, 3)
    x = np.random.default_rng(1).normal(size=(3, 40, 2)).astype("float32")
    maps, maps0 = (
        class_activation_maps(model, x, class_index=1),
        class_activation_maps(model, x, class_index=0),
    )
    assert maps.shape == (3, 40)
    bias = model.get_layer("classifier").bias.numpy()
    # softmax is shift-invariant: compare differences between classes 1 and 0
    logits = np.log(model.predict(x, verbose=0))
    np.testing.assert_allclose(
        maps.mean(axis=1) + bias[1] - maps0.mean(axis=1) - bias[0],
        logits[:, 1] - logits[:, 0],
        rtol=1e-3,
        atol=1e-4,
    )


def test_the_fcn_ignores_right_padding_exactly(series_lesson):
    model = series_lesson["make_fcn"](3, 2)
    series = np.random.default_rng(2).normal(size=(1, 12, 3)).astype("float32")
    padded = np.concatenate([series, np.zeros((1, 8, 3), np.float32)], axis=1)
    np.testing.assert_allclose(
        model.predict(series, verbose=0), model.predict(padded, verbose=0), rtol=1e-5, atol=1e-6
    )
    maps = class_activation_maps(model, padded, class_index=0)
    assert maps.shape == (1, 20) and (maps[0, 12:] == 0).all()


def test_the_lstm_keeps_cudnn_settings_and_masks_padding(series_lesson):
    model = series_lesson["make_lstm"](3, 4, units=8)
    lstm = next(layer for layer in model.layers if isinstance(layer, keras.layers.LSTM))
    assert (
        lstm.activation is keras.activations.tanh
        and lstm.recurrent_activation is keras.activations.sigmoid
    )
    assert (
        lstm.recurrent_dropout == 0
        and not lstm.unroll
        and lstm.use_bias
        and model.output_shape == (None, 4)
    )
    series = np.random.default_rng(3).normal(size=(1, 6, 3)).astype("float32")
    padded = np.concatenate([series, np.zeros((1, 5, 3), np.float32)], axis=1)
    np.testing.assert_allclose(
        model.predict(series, verbose=0), model.predict(padded, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_training_is_reproducible_and_timed(series_lesson):
    from helpers.data.series import series_dataset

    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], 16)
    X = rng.normal(size=(32, 20, 2)).astype("float32")
    X[y == 1, :, 0] += 3.0
    ds = series_dataset("toy", list(X), y, list(X[:8]), y[:8])
    runs = [series_lesson["train"](series_lesson["make_fcn"], ds, 7, 10) for _ in range(2)]
    assert runs[0].seconds_per_epoch > 0 and runs[0].params == runs[1].params
    # same seed, same run
    np.testing.assert_allclose(
        runs[0].predict(ds.X_test), runs[1].predict(ds.X_test), rtol=1e-4, atol=1e-5
    )
    assert (runs[0].predict(ds.X_train).argmax(1) == y).mean() >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("name, epochs", [("GunPoint", 100), ("ItalyPowerDemand", 60)])
def test_the_fcn_keeps_its_training_accuracy_in_inference_mode_and_matches_the_published_fcn(
    series_lesson, name, epochs
):
    """Small sets (50 and 67 training series, a few batches an epoch): the failure BatchNorm's
    lagging statistics cause, fixed."""
    ds, _ = standardize(load_series(name))
    trial = series_lesson["train"](series_lesson["make_fcn"], ds, 0, epochs)
    model = trial.model
    in_training_mode = (np.asarray(model(ds.X_train, training=True)).argmax(1) == ds.y_train).mean()
    in_inference_mode = (trial.predict(ds.X_train).argmax(1) == ds.y_train).mean()
    assert in_inference_mode >= in_training_mode - 0.05
    test_accuracy = (trial.predict(ds.X_test).argmax(1) == ds.y_test).mean()
    assert test_accuracy >= PUBLISHED_FCN_ACCURACY[name] - 0.05


def test_guided_training_moves_evidence_off_the_masked_shortcut(shortcut_maps):
    guided_lesson = lesson("06", n_classes=2, EPOCHS=40, SEED=0)
    maps, labels = shortcut_maps()
    masks = np.zeros(maps.shape[:3], np.float32)
    masks[:, 0, 0] = 1.0
    naive = guided_lesson["fit_head"](maps, labels, learning_rate=1e-2)
    guided = guided_lesson["fit_head"](maps, labels, masks=masks, weight=1.0, learning_rate=1e-2)
    energy = {
        name: np.nanmean(
            cam_energy_share(
                contrast_cams(maps, head.get_layer("classifier").kernel.numpy(), 1), masks
            )
        )
        for name, head in [("naive", naive), ("guided", guided)]
    }
    assert energy["guided"] < 0.5 * energy["naive"]
    # without the shortcut, only the real signal is left: the guided head must still use it
    test_maps, test_labels = shortcut_maps(seed=1)
    test_maps[:, 0, 0, 0] = 6.0  # the shortcut on every image: says nothing
    accuracy = {
        name: (predict_in_batches(head, test_maps).argmax(1) == test_labels).mean()
        for name, head in [("naive", naive), ("guided", guided)]
    }
    assert accuracy["guided"] > accuracy["naive"] + 0.1
    # weight 0 is the plain cross-entropy head: the penalty term is the only difference
    plain = guided_lesson["fit_head"](maps, labels, masks=masks, weight=0.0, learning_rate=1e-2)
    np.testing.assert_allclose(
        plain.get_layer("classifier").get_weights()[0],
        naive.get_layer("classifier").get_weights()[0],
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.fixture(scope="module")
def pooling_lesson():
    return lesson("04", tag="pooling")


def test_the_notebook_poolings_give_the_logit_of_their_class_map(pooling_lesson):
    """Each of notebook 04's poolings, as a head: the model's logit is its class map (the CAM)
    pooled the notebook's way, and the poolings meet at their limits (LSE -> mean and max)."""
    from functools import partial

    from helpers.models.pooling import add_pooled_head, logits

    maps = np.random.default_rng(3).normal(size=(5, 6, 6, 4)).astype("float32")
    poolings = {
        "average": (pooling_lesson["average"], lambda s: s.mean(axis=(1, 2))),
        "maximum": (pooling_lesson["maximum"], lambda s: s.max(axis=(1, 2))),
        "log_sum_exp": (
            partial(pooling_lesson["log_sum_exp"], r=4.0),
            lambda s: np.log(np.exp(4.0 * s).mean(axis=(1, 2))) / 4.0,
        ),
        "top_k_min": (
            partial(pooling_lesson["top_k_min"], k=3),
            lambda s: (
                np.sort(s.reshape(5, -1))[:, -3:].mean(1)
                + 0.5 * np.sort(s.reshape(5, -1))[:, :3].mean(1)
            ),
        ),
    }
    for name, (pooling, reference) in poolings.items():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6, 6, 4))
        model = keras.Model(inputs, add_pooled_head(inputs, pooling))
        cams = class_activation_maps(model, maps, class_index=1)
        np.testing.assert_allclose(logits(model, maps), reference(cams), rtol=1e-4, err_msg=name)
    # log-sum-exp is stable where a naive exp overflows, and sits between the mean and the max
    scores = keras.ops.convert_to_tensor(np.array([[[400.0, 0.0], [0.0, 0.0]]], "float32"))
    sharp = float(pooling_lesson["log_sum_exp"](scores, r=50.0)[0])
    assert np.isfinite(sharp) and 100.0 < sharp < 400.0
    assert float(pooling_lesson["log_sum_exp"](scores, r=1e-4)[0]) == pytest.approx(100.0, rel=2e-2)


def test_the_notebook_attention_pooling_weighs_the_scores_by_a_softmax(pooling_lesson):
    scores = np.array([[[1.0, 2.0], [3.0, 4.0]]], "float32")
    attention = np.array([[[0.0, 0.0], [0.0, np.log(3.0)]]], "float32")
    pooled = pooling_lesson["attention"](
        keras.ops.convert_to_tensor(scores), keras.ops.convert_to_tensor(attention)
    )
    # weights 1/6, 1/6, 1/6, 3/6
    assert float(pooled[0]) == pytest.approx((1 + 2 + 3 + 3 * 4) / 6, rel=1e-6)
