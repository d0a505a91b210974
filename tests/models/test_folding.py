"""Frozen BatchNorm folded into convolutions: the same outputs and the same variables."""

from functools import partial

import keras
import numpy as np
import pytest

from helpers.models import folding
from helpers.models.folding import (
    FoldedConv,
    fold_frozen_batchnorm,
    foldable_pairs,
    resolve_precision,
    training_precision,
)
from helpers.models.pooling import PoolClassMap

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 8, 8, 3)).astype("float32")
Y = np.eye(2, dtype="float32")[[0, 1, 1, 0]]


def frozen_norm(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(name=name, trainable=False)


def small_model() -> keras.Model:
    """conv -> BN -> ReLU6 -> depthwise -> BN -> biased conv -> BN -> GAP -> Dense, with BatchNorm
    statistics far from 0 and 1 so that a wrong fold shows."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 1, use_bias=False, name="expand")(inputs)
    x = frozen_norm("expand_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="dw")(x)
    x = frozen_norm("dw_bn")(x)
    x = keras.layers.Conv2D(4, 3, padding="valid", name="project")(x)
    x = frozen_norm("project_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(x))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(RNG.normal(size=n).astype("float32"))
            layer.moving_variance.assign(RNG.uniform(0.2, 3.0, n).astype("float32"))
            layer.gamma.assign(RNG.uniform(0.5, 2.0, n).astype("float32"))
            layer.beta.assign(RNG.normal(size=n).astype("float32"))
    return model


def test_every_frozen_norm_after_a_convolution_is_folded():
    model = small_model()
    assert foldable_pairs(model) == {"expand_bn": "expand", "dw_bn": "dw", "project_bn": "project"}
    folded = fold_frozen_batchnorm(model, "float32")
    assert folded.folded_pairs == 3 and folded.folded_precision == "float32"
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert sum(isinstance(layer, FoldedConv) for layer in folded.layers) == 3
    np.testing.assert_allclose(folded(X), model(X), atol=1e-6)


def test_trainable_norms_shared_convolutions_and_activated_convolutions_stay():
    inputs = keras.Input((8, 8, 3))
    trainable = keras.layers.BatchNormalization(name="trainable_bn")(
        keras.layers.Conv2D(3, 1, use_bias=False)(inputs)
    )
    shared = keras.layers.Conv2D(3, 1, use_bias=False, name="shared")(trainable)
    branch = frozen_norm("branch_bn")(shared)
    activated = keras.layers.Conv2D(3, 1, activation="relu", name="activated")(shared + branch)
    outputs = frozen_norm("after_relu_bn")(activated)
    model = keras.Model(inputs, outputs)
    assert foldable_pairs(model) == {}
    np.testing.assert_allclose(fold_frozen_batchnorm(model, "float32")(X), model(X), atol=1e-6)


def test_layers_that_do_not_serialize_and_calls_in_other_models_do_not_matter():
    model = small_model()
    maps = model.get_layer("project_bn").output
    pooled = PoolClassMap(partial(keras.ops.max, axis=(1, 2)))(maps[..., :1])  # no get_config
    upper = keras.Model(model.get_layer("dw").input, pooled)  # "dw" is called in model too
    assert foldable_pairs(upper) == {"dw_bn": "dw", "project_bn": "project"}
    x = RNG.normal(size=(4, 8, 8, 6)).astype("float32")
    np.testing.assert_allclose(fold_frozen_batchnorm(upper, "float32")(x), upper(x), atol=1e-5)


def test_training_the_folded_model_trains_the_original():
    model = small_model()
    folded = fold_frozen_batchnorm(model, "float32")
    before = model.get_layer("expand").kernel.numpy().copy()
    folded.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
    folded.train_on_batch(X, Y)
    assert not np.allclose(model.get_layer("expand").kernel.numpy(), before)
    # one optimizer step apart, the two graphs round differently (oneDNN fuses the folded one)
    np.testing.assert_allclose(folded(X), model(X), atol=1e-5)


def test_statistics_are_read_at_call_time():
    model = small_model()
    folded = fold_frozen_batchnorm(model, "float32")
    norm = model.get_layer("project_bn")
    norm.moving_mean.assign(norm.moving_mean.numpy() + 1.0)
    np.testing.assert_allclose(folded(X), model(X), atol=1e-6)


def test_bfloat16_computes_the_folded_part_in_bfloat16_and_the_head_in_float32():
    model = small_model()
    folded = fold_frozen_batchnorm(model, "bfloat16")
    assert folded.folded_precision == "bfloat16"
    policies = [(type(layer).__name__, layer.dtype_policy.name) for layer in folded.layers[1:]]
    assert policies == [
        ("FoldedConv", "mixed_bfloat16"),
        ("ReLU", "mixed_bfloat16"),
        ("FoldedConv", "mixed_bfloat16"),
        ("FoldedConv", "mixed_bfloat16"),
        ("GlobalAveragePooling2D", "float32"),
        ("Dense", "float32"),
    ]
    difference = np.abs(folded(X) - model(X)).max()
    assert 0 < difference < 0.05
    assert all(w.dtype == "float32" for w in folded.weights)
    relu = next(layer for layer in model.layers if isinstance(layer, keras.layers.ReLU))
    assert relu.dtype_policy.name == "float32" and relu not in folded.layers


def test_only_what_folded_convolutions_feed_computes_in_bfloat16():
    inputs = keras.Input((8, 8, 3))
    trained = keras.layers.BatchNormalization(name="trained_bn")(
        keras.layers.Conv2D(3, 1, use_bias=False, name="first")(inputs)
    )
    x = keras.layers.ReLU(6.0, name="after_trained")(trained)
    x = frozen_norm("frozen_bn")(keras.layers.Conv2D(3, 1, use_bias=False, name="second")(x))
    x = keras.layers.Add(name="residual")([keras.layers.ReLU(6.0, name="after_frozen")(x), trained])
    model = keras.Model(inputs, x)
    folded = fold_frozen_batchnorm(model, "bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in folded.layers}
    assert policies["after_trained"] == "float32"
    assert policies["after_frozen"] == policies["residual"] == "mixed_bfloat16"
    nothing = fold_frozen_batchnorm(keras.Model(inputs, trained), "bfloat16")
    assert nothing.folded_pairs == 0 and nothing.folded_precision == "float32"


def test_a_bfloat16_folded_model_trains_the_original_and_saves(tmp_path):
    model = small_model()
    folded = fold_frozen_batchnorm(model, "bfloat16")
    before = model.get_layer("project").kernel.numpy().copy()
    folded.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
    folded.train_on_batch(X, Y)
    assert not np.allclose(model.get_layer("project").kernel.numpy(), before)
    folded.save(tmp_path / "folded.keras")
    reloaded = keras.models.load_model(tmp_path / "folded.keras")
    assert [layer.dtype_policy.name for layer in reloaded.layers] == [
        layer.dtype_policy.name for layer in folded.layers
    ]
    np.testing.assert_allclose(reloaded(X), folded(X), atol=1e-6)


def depthwise_with_zero_shift(strides: int) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    """A depthwise convolution whose kernel bfloat16 holds exactly (a mixed policy reads it in
    bfloat16), and a frozen BatchNorm that scales without shifting."""
    conv = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)
    norm = frozen_norm(f"norm_{strides}")
    conv.build((None, 8, 8, 3))
    norm.build((None, 8, 8, 3))
    conv.kernel.assign(keras.ops.cast(keras.ops.cast(conv.kernel, "bfloat16"), "float32"))
    norm.moving_variance.assign(RNG.uniform(0.2, 3.0, 3).astype("float32"))
    return conv, norm


@pytest.mark.parametrize("strides, float32_inside", [(2, True), (1, False)])
def test_strided_depthwise_convolutions_compute_in_float32(strides, float32_inside):
    conv, norm = depthwise_with_zero_shift(strides)
    inputs = keras.ops.cast(X, "bfloat16")
    in_bfloat16 = FoldedConv(conv, norm, dtype="mixed_bfloat16")(inputs)
    in_float32 = keras.ops.cast(FoldedConv(conv, norm, dtype="float32")(inputs), "bfloat16")
    assert in_bfloat16.dtype == "bfloat16"
    assert np.array_equal(in_bfloat16, in_float32) == float32_inside


def test_a_folded_model_saves_and_loads(tmp_path):
    folded = fold_frozen_batchnorm(small_model(), "float32")
    folded.save(tmp_path / "folded.keras")
    reloaded = keras.models.load_model(tmp_path / "folded.keras")
    np.testing.assert_allclose(reloaded(X), folded(X), atol=1e-7)


def test_precision_is_chosen_from_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(folding, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert resolve_precision() == "bfloat16"
    monkeypatch.setattr(folding, "cpu_flags", lambda: {"avx2"})
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        resolve_precision("float16")


def test_training_precision_says_what_folding_did():
    model = small_model()
    assert training_precision(model) == "the float32 policy, BatchNorm not folded"
    assert training_precision(fold_frozen_batchnorm(model, "bfloat16")) == (
        "3 frozen BatchNorm layers folded into their convolutions; the folded part in bfloat16 "
        "(weights in float32), pooling and head in float32"
    )
    assert training_precision(fold_frozen_batchnorm(model, "float32")) == (
        "3 frozen BatchNorm layers folded into their convolutions; everything in float32"
    )
