"""CAM and Grad-CAM: exact identities on GAP -> dense
models, known-location peaks, nesting, 1-D, pictures."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.explain.cam import (
    cams_from_maps,
    class_activation_maps,
    contrast_cams,
    find_layer_path,
    gap_head,
    grad_cam,
)
from helpers.explain.heatmaps import map_correlation, upsample_maps
from helpers.models.gap import build_gap_classifier, build_gap_head


def small_cnn(
    dim: int = 2, n_classes: int = 3, activation: str = "softmax", seed: int = 0
) -> keras.Model:
    keras.utils.set_random_seed(seed)
    conv = keras.layers.Conv2D if dim == 2 else keras.layers.Conv1D
    gap = keras.layers.GlobalAveragePooling2D if dim == 2 else keras.layers.GlobalAveragePooling1D
    shape = (24, 24, 3) if dim == 2 else (40, 5)
    inputs = keras.Input(shape)
    x = conv(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = conv(6, 3, strides=2, padding="same", activation="relu", name="conv_b")(x)
    x = gap(name="gap")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation=activation, name="classifier")(x)
    return keras.Model(inputs, outputs)


def logits_of(model: keras.Model, x: np.ndarray) -> np.ndarray:
    dense = model.get_layer("classifier")
    pooled = keras.Model(model.inputs[0], dense.input)(x, training=False)
    return np.asarray(pooled) @ np.asarray(dense.kernel) + np.asarray(dense.bias)


@pytest.mark.parametrize("dim", [2, 1])
def test_cam_and_grad_cam_agree_up_to_a_positive_scale_on_a_gap_model(dim):
    model = small_cnn(dim)
    x = np.random.default_rng(0).uniform(0, 1, (7, *model.input_shape[1:])).astype("float32")
    for cls in (0, 1, 2):
        cam = class_activation_maps(model, x, class_index=cls, batch_size=3)
        grad = grad_cam(model, x, class_index=cls, batch_size=4)
        assert cam.shape == grad.shape == ((7, 12, 12) if dim == 2 else (7, 20))
        positions = np.prod(cam.shape[1:])
        np.testing.assert_allclose(grad * positions, cam, rtol=1e-4, atol=1e-5)
        assert np.all(map_correlation(cam, grad) > 0.9999)


def test_cam_mean_plus_bias_is_the_class_logit():
    model = small_cnn(2)
    x = np.random.default_rng(1).uniform(0, 1, (5, 24, 24, 3)).astype("float32")
    logits = logits_of(model, x)
    bias = np.asarray(model.get_layer("classifier").bias)
    for cls in range(3):
        cam = class_activation_maps(model, x, class_index=cls)
        np.testing.assert_allclose(
            cam.mean(axis=(1, 2)) + bias[cls], logits[:, cls], rtol=1e-4, atol=1e-5
        )


def test_class_index_none_int_and_per_sample():
    model = small_cnn(2)
    x = np.random.default_rng(2).uniform(0, 1, (6, 24, 24, 3)).astype("float32")
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    per_class = np.stack([class_activation_maps(model, x, class_index=c) for c in range(3)])
    np.testing.assert_allclose(
        class_activation_maps(model, x), per_class[predicted, np.arange(6)], rtol=1e-5
    )
    chosen = np.array([2, 0, 1, 1, 0, 2])
    np.testing.assert_allclose(
        class_activation_maps(model, x, class_index=chosen),
        per_class[chosen, np.arange(6)],
        rtol=1e-5,
    )
    grads = np.stack([grad_cam(model, x, class_index=c) for c in range(3)])
    np.testing.assert_allclose(grad_cam(model, x), grads[predicted, np.arange(6)], rtol=1e-5)
    with pytest.raises(ValueError, match="fewer"):
        class_activation_maps(model, x, class_index=[0, 1])


def test_tf_data_batches_give_the_same_maps_as_arrays():
    model = small_cnn(2)
    x = np.random.default_rng(3).uniform(0, 1, (9, 24, 24, 3)).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((x, np.zeros(9))).batch(4)
    # atol: oneDNN kernels sum in a batch-size-dependent order, so maps near zero differ by ~1e-8
    np.testing.assert_allclose(
        class_activation_maps(model, batches), class_activation_maps(model, x), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(grad_cam(model, batches), grad_cam(model, x), rtol=1e-5, atol=1e-6)


def evidence_model(dim: int) -> keras.Model:
    """A hand-weighted model: class 1's logit is the mean brightness, class 0's its negative."""
    if dim == 2:
        inputs = keras.Input((32, 32, 1))
        # 8 x 8 feature map = local brightness
        x = keras.layers.AveragePooling2D(4, name="pool")(inputs)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        inputs = keras.Input((64, 1))
        x = keras.layers.AveragePooling1D(4, name="pool")(inputs)  # 16 steps
        x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    dense = keras.layers.Dense(2, activation="softmax", name="classifier")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.array([[-1.0, 1.0]], dtype="float32"), np.zeros(2, dtype="float32")])
    return model


def test_maps_peak_where_the_evidence_is_2d():
    model = evidence_model(2)
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 0.1, (4, 32, 32, 1)).astype("float32")
    spots = [(20, 4), (0, 28), (12, 12), (28, 0)]  # top-left corners of 4x4 bright spots
    for image, (r, c) in zip(images, spots):
        image[r : r + 4, c : c + 4] = 1.0
    for maps in (
        class_activation_maps(model, images, class_index=1),
        grad_cam(model, images, class_index=1),
    ):
        assert maps.shape == (4, 8, 8)
        peaks = [np.unravel_index(m.argmax(), m.shape) for m in maps]
        assert peaks == [(r // 4, c // 4) for r, c in spots]
        big = upsample_maps(maps, 32)
        for m, (r, c) in zip(big, spots):
            y, x = np.unravel_index(m.argmax(), m.shape)
            assert r <= y < r + 4 and c <= x < c + 4
    # the other class's evidence is the opposite: its map is lowest there
    low = class_activation_maps(model, images, class_index=0)
    assert [np.unravel_index(m.argmin(), m.shape) for m in low] == [
        (r // 4, c // 4) for r, c in spots
    ]


def test_maps_peak_where_the_evidence_is_1d():
    model = evidence_model(1)
    series = np.zeros((3, 64, 1), dtype="float32")
    for s, start in zip(series, (8, 40, 60)):
        s[start : start + 4] = 1.0
    for maps in (
        class_activation_maps(model, series, class_index=1),
        grad_cam(model, series, class_index=1),
    ):
        assert maps.shape == (3, 16)
        assert list(maps.argmax(axis=1)) == [2, 10, 15]
        assert list(upsample_maps(maps, 64).argmax(axis=1) // 4) == [2, 10, 15]


def test_a_trained_cnn_localizes_the_spot_it_learned():
    """Trained only on "has a bright cross or not",
    the CAM of the positive class peaks on the cross."""
    rng = np.random.default_rng(5)
    keras.utils.set_random_seed(5)

    def sample(n):
        x = rng.normal(0.3, 0.1, (n, 32, 32, 1)).astype("float32")
        y = rng.integers(0, 2, n)
        where = rng.integers(2, 27, (n, 2))
        for i in np.flatnonzero(y):
            r, c = where[i]
            x[i, r : r + 4, c + 1 : c + 3] = 1.0
            x[i, r + 1 : r + 3, c : c + 4] = 1.0
        return x, y, where

    inputs = keras.Input((32, 32, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    model.compile(
        keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    x, y, _ = sample(600)
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    x_test, y_test, where = sample(80)
    positives = np.flatnonzero(y_test)
    cam = upsample_maps(class_activation_maps(model, x_test[positives], class_index=1), 32)
    hits = []
    for m, (r, c) in zip(cam, where[positives]):
        py, px = np.unravel_index(m.argmax(), m.shape)
        hits.append(r - 2 <= py < r + 6 and c - 2 <= px < c + 6)
    assert np.mean(hits) >= 0.9
    assert np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test) >= 0.9


def test_grad_cam_through_a_nested_backbone_equals_the_flat_model():
    keras.utils.set_random_seed(6)
    base_in = keras.Input((24, 24, 3))
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="inner_a")(base_in)
    b = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="inner_b")(a)
    base = keras.Model(base_in, b, name="base")
    gap = keras.layers.GlobalAveragePooling2D(name="gap")
    drop = keras.layers.Dropout(0.3, name="dropout")
    dense = keras.layers.Dense(3, activation="softmax", name="classifier")
    nested = keras.Sequential([keras.Input((24, 24, 3)), base, gap, drop, dense])
    flat_in = keras.Input((24, 24, 3))
    flat = keras.Model(
        flat_in, dense(drop(gap(base.get_layer("inner_b")(base.get_layer("inner_a")(flat_in)))))
    )
    x = np.random.default_rng(6).uniform(0, 1, (5, 24, 24, 3)).astype("float32")

    assert [layer.name for layer in find_layer_path(nested, "inner_a")] == ["base", "inner_a"]
    for name in ("inner_a", "inner_b"):
        got = grad_cam(nested, x, layer_name=name, class_index=1)
        want = grad_cam(flat, x, layer_name=name, class_index=1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # default layer of the nested model: the base's output, which feeds GAP -> CAM up to scale
    np.testing.assert_allclose(
        grad_cam(nested, x) * 144, class_activation_maps(nested, x), rtol=1e-4, atol=1e-5
    )
    # a functional outer model around the nested base works as well
    outer_in = keras.Input((24, 24, 3))
    outer = keras.Model(outer_in, dense(drop(gap(base(outer_in)))))
    np.testing.assert_allclose(
        grad_cam(outer, x, layer_name="inner_a", class_index=2),
        grad_cam(flat, x, layer_name="inner_a", class_index=2),
        rtol=1e-4,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="no layer named"):
        grad_cam(nested, x, layer_name="missing")


def test_sigmoid_output_scores_are_logits_of_both_classes():
    model = small_cnn(2, n_classes=1, activation="sigmoid")
    x = np.random.default_rng(7).uniform(0, 1, (4, 24, 24, 3)).astype("float32")
    positive, negative = grad_cam(model, x, class_index=1), grad_cam(model, x, class_index=0)
    np.testing.assert_allclose(positive, -negative, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        positive * 144, class_activation_maps(model, x, class_index=0), rtol=1e-4, atol=1e-5
    )


def test_cam_needs_gap_then_dense_but_grad_cam_does_not():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    x = np.ones((2, 16, 16, 3), "float32")
    with pytest.raises(ValueError, match="GlobalAveragePooling"):
        class_activation_maps(model, x)
    assert grad_cam(model, x).shape == (2, 14, 14)

    inputs = keras.Input((16, 16, 3))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    h = keras.layers.Dense(8, activation="relu")(h)
    two_dense = keras.Model(inputs, keras.layers.Dense(2)(h))
    with pytest.raises(ValueError, match="GAP -> Dense"):
        gap_head(
            keras.Model(
                inputs,
                keras.layers.BatchNormalization()(keras.layers.GlobalAveragePooling2D()(inputs)),
            )
        )
    # a hidden Dense after GAP is no classifier
    with pytest.raises(ValueError, match="GAP -> Dense"):
        class_activation_maps(two_dense, np.ones((1, 16, 16, 3), "float32"))
    assert grad_cam(two_dense, np.ones((1, 16, 16, 3), "float32")).shape == (1, 14, 14)


def test_repeated_calls_follow_weight_updates():
    """The traced function is reused across calls, but it reads the current weights."""
    model = small_cnn(2)
    x = np.random.default_rng(8).uniform(0, 1, (3, 24, 24, 3)).astype("float32")
    before = class_activation_maps(model, x, class_index=0)
    grad_before = grad_cam(model, x, class_index=0)
    dense = model.get_layer("classifier")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 2.0, bias])
    np.testing.assert_allclose(
        class_activation_maps(model, x, class_index=0), 2.0 * before, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        grad_cam(model, x, class_index=0), 2.0 * grad_before, rtol=1e-5, atol=1e-7
    )


def test_cams_from_cached_maps_average_to_the_logits_of_a_head():
    rng = np.random.default_rng(9)
    maps = rng.uniform(0, 1, (6, 4, 4, 8)).astype(np.float32)
    keras.utils.set_random_seed(9)
    head = build_gap_head((4, 4, 8), 2)
    kernel, bias = head.get_layer("classifier").get_weights()
    logits = (
        np.stack([cams_from_maps(maps, kernel, k).mean(axis=(1, 2)) for k in range(2)], axis=1)
        + bias
    )
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(head.predict(maps, verbose=0), expected, rtol=1e-4, atol=1e-5)
    labels = np.arange(6) % 2
    per_image = cams_from_maps(maps, kernel, labels)
    np.testing.assert_allclose(
        per_image[labels == 1], cams_from_maps(maps, kernel, 1)[labels == 1], rtol=1e-5
    )
    np.testing.assert_allclose(
        contrast_cams(maps, kernel, 1),
        cams_from_maps(maps, kernel, 1) - cams_from_maps(maps, kernel, 0),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        class_activation_maps(head, maps, class_index=1),
        cams_from_maps(maps, kernel, 1),
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_head_on_cached_maps_put_back_on_the_backbone_gives_the_same_maps():
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    head = build_gap_head((2, 2, 1280), 2)
    model = build_gap_classifier(2, image_size=64, weights=None)
    model.get_layer("classifier").set_weights(head.get_layer("classifier").get_weights())
    images = rng.uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    backbone_maps = keras.Model(model.input, model.get_layer("gap").input)(images).numpy()
    expected = cams_from_maps(backbone_maps, head.get_layer("classifier").kernel.numpy(), 1)
    np.testing.assert_allclose(
        class_activation_maps(model, images, class_index=1), expected, rtol=1e-4, atol=1e-4
    )
