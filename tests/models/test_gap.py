"""GAP classifiers: GAP -> dropout -> classifier, freezing,
unfreezing above a layer, splitting, linear heads."""

import keras
import numpy as np
import pytest

from helpers.models.gap import (
    backbone_layers,
    build_gap_classifier,
    build_gap_head,
    pooling_part,
    set_linear_head,
    split_at,
    unfreeze_above,
)

FINE_TUNE_FROM = "block_12_add"


def freeze_all(model):
    for layer in backbone_layers(model):
        layer.trainable = False


def head_model(model):
    """The head alone on pooled features, sharing the classifier with ``model``."""
    inputs = keras.Input((model.get_layer("gap").output.shape[-1],))
    return keras.Model(inputs, model.get_layer("classifier")(model.get_layer("dropout")(inputs)))


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)  # random weights: seeded, so the training test is deterministic
    return build_gap_classifier(3, image_size=64, weights=None)


def test_layer_after_gap_is_the_classifier(model):
    names = [layer.name for layer in model.layers]
    after_gap = model.layers[names.index("gap") + 1 :]
    assert [layer.name for layer in after_gap] == ["dropout", "classifier"]
    assert isinstance(after_gap[0], keras.layers.Dropout)  # the identity at inference
    classifier = model.get_layer("classifier")
    assert isinstance(classifier, keras.layers.Dense) and classifier.units == 3
    assert classifier.input is not None and classifier.kernel.shape == (1280, 3)
    assert model.output_shape == (None, 3)


def test_backbone_starts_frozen_and_head_trainable(model):
    assert all(not layer.trainable for layer in backbone_layers(model))
    assert model.get_layer("classifier").trainable
    assert len(model.trainable_weights) == 2  # the classifier's kernel and bias


def test_unfreeze_above_keeps_lower_layers_and_batchnorm_frozen(model):
    n = unfreeze_above(model, FINE_TUNE_FROM)
    layers = backbone_layers(model)
    lower, top = layers[: len(layers) - n], layers[len(layers) - n :]
    assert lower[-1].name == FINE_TUNE_FROM
    assert all(not layer.trainable for layer in lower)
    assert all(
        not layer.trainable for layer in top if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert any(layer.trainable for layer in top if isinstance(layer, keras.layers.Conv2D))
    trainable = {id(w) for w in model.trainable_weights}
    assert not any(id(w) in trainable for layer in lower for w in layer.weights)
    freeze_all(model)
    assert len(model.trainable_weights) == 2


def test_frozen_layers_stay_frozen_through_training(model):
    unfreeze_above(model, "block_15_add")
    frozen = [layer for layer in backbone_layers(model) if layer.weights and not layer.trainable]
    before = [[w.copy() for w in layer.get_weights()] for layer in frozen]
    tuned = [layer for layer in backbone_layers(model) if layer.trainable and layer.weights]
    tuned_before = [[w.copy() for w in layer.get_weights()] for layer in tuned]
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    keras.utils.set_random_seed(1)
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    for layer, weights in zip(frozen, before):  # includes BatchNorm moving statistics
        for now, then in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(now, then)
    changed = [
        any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), then))
        for layer, then in zip(tuned, tuned_before)
    ]
    assert any(changed)  # the unfrozen layers did train
    freeze_all(model)


@pytest.mark.slow
def test_split_parts_compose_to_the_model_and_share_weights(model):
    lower, upper = split_at(model, "block_12_add")
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        upper.predict(lower.predict(x, verbose=0), verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    assert upper.get_layer("classifier") is model.get_layer("classifier")
    assert unfreeze_above(model, "block_12_add") == len(backbone_layers(upper))
    freeze_all(model)
    pooled = keras.Model(model.input, model.get_layer("gap").output).predict(x, verbose=0)
    np.testing.assert_allclose(
        pooling_part(model, "block_12_add").predict(lower.predict(x, verbose=0), verbose=0),
        pooled,
        rtol=1e-5,
        atol=1e-6,
    )


def test_head_model_shares_the_classifier(model):
    head = head_model(model)
    assert head.input_shape == (None, 1280)
    assert head.get_layer("classifier") is model.get_layer("classifier")
    pooled = keras.Model(model.input, model.get_layer("gap").output)
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        head.predict(pooled.predict(x, verbose=0), verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_unfreeze_above_rejects_unknown_layer(model):
    with pytest.raises(ValueError, match="not a backbone layer"):
        unfreeze_above(model, "no_such_layer")


def test_gap_head_on_cached_maps_is_the_same_head(model):
    head = build_gap_head((2, 2, 1280), 3)
    assert [layer.name for layer in head.layers] == ["feature_maps", "gap", "dropout", "classifier"]
    head.get_layer("classifier").set_weights(model.get_layer("classifier").get_weights())
    maps = keras.Model(model.input, model.get_layer("gap").input)
    x = np.random.default_rng(3).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        head.predict(maps.predict(x, verbose=0), verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_set_linear_head_reproduces_logistic_regression(n_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    # like ReLU6 pooled features
    features = rng.gamma(2.0, 3.0, size=(120, 1280)).astype(np.float32)
    labels = np.arange(120) % n_classes
    scaler = StandardScaler().fit(features)
    logistic = LogisticRegression(C=0.1, max_iter=2000).fit(scaler.transform(features), labels)
    classifier = build_gap_classifier(n_classes, image_size=32, weights=None)
    set_linear_head(
        classifier, logistic.coef_, logistic.intercept_, mean=scaler.mean_, scale=scaler.scale_
    )
    proba = head_model(classifier).predict(features, verbose=0)
    np.testing.assert_allclose(proba, logistic.predict_proba(scaler.transform(features)), atol=1e-4)


def test_set_linear_head_rejects_wrong_shapes():
    classifier = build_gap_classifier(3, image_size=32, weights=None)
    with pytest.raises(ValueError, match="1280"):
        set_linear_head(classifier, np.zeros((3, 10)), np.zeros(3))
    with pytest.raises(ValueError, match="classes"):
        set_linear_head(classifier, np.zeros((4, 1280)), np.zeros(4))
