"""Pooled class-map heads: the logit is the class map pooled, GAP's equals GAP -> Dense, the kept
epoch and the head are chosen on validation scores only."""

import keras
import numpy as np
import pandas as pd
import pytest

from helpers.explain.cam import class_activation_maps, grad_cam
from helpers.models.gap import build_gap_classifier, set_linear_head, split_at, unfreeze_above
from helpers.models.pooling import (
    add_pooled_head,
    choose_head,
    fine_tune,
    logits,
    pooled_classifier,
    set_class_map,
    study_results,
    training_batches,
)

RNG = np.random.default_rng(0)
MAPS = RNG.normal(size=(6, 4, 4, 5)).astype("float32")


def mean_pooling(scores):
    return keras.ops.mean(scores, axis=(1, 2))


def max_pooling(scores):
    return keras.ops.max(scores, axis=(1, 2))


def attention_pooling(scores, attention):
    flat_attention = keras.ops.reshape(attention, (-1, 16))
    weights = keras.ops.softmax(flat_attention, axis=1)
    return keras.ops.sum(weights * keras.ops.reshape(scores, (-1, 16)), axis=1)


def class_maps(model, inputs):
    return class_activation_maps(model, inputs, class_index=1, batch_size=4)


def head_on_maps(pooling, attention_units=0):
    inputs = keras.Input((4, 4, 5))
    return keras.Model(inputs, add_pooled_head(inputs, pooling, attention_units=attention_units))


@pytest.mark.parametrize(
    "pooling, reference",
    [(mean_pooling, lambda s: s.mean(axis=(1, 2))), (max_pooling, lambda s: s.max(axis=(1, 2)))],
)
def test_the_logit_is_the_class_map_pooled(pooling, reference):
    keras.utils.set_random_seed(1)
    model = head_on_maps(pooling)
    scores = class_maps(model, MAPS)
    assert scores.shape == (6, 4, 4)
    kernel, bias = model.get_layer("class_map").get_weights()
    np.testing.assert_allclose(scores, MAPS @ kernel[0, 0][:, 0] + bias[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits(model, MAPS), reference(scores), rtol=1e-5, atol=1e-6)
    # class 0's evidence is the opposite; by default, the predicted class's
    np.testing.assert_allclose(class_activation_maps(model, MAPS, class_index=0), -scores)
    predicted = np.where(logits(model, MAPS) > 0, 1, -1)[:, None, None]
    np.testing.assert_allclose(class_activation_maps(model, MAPS), predicted * scores)


def test_attention_pooling_gets_the_attention_logits():
    keras.utils.set_random_seed(2)
    model = head_on_maps(attention_pooling, attention_units=3)
    hidden, attention = model.get_layer("attention_hidden"), model.get_layer("attention")
    w1, b1 = hidden.get_weights()
    w2, b2 = attention.get_weights()
    attention_logits = np.tanh(MAPS @ w1[0, 0] + b1) @ w2[0, 0][:, 0] + b2[0]
    weights = np.exp(attention_logits).reshape(6, -1)
    weights /= weights.sum(axis=1, keepdims=True)
    expected = (weights * class_maps(model, MAPS).reshape(6, -1)).sum(axis=1)
    np.testing.assert_allclose(logits(model, MAPS), expected, rtol=1e-5, atol=1e-6)


def test_mean_pooling_of_a_fitted_scorer_is_the_gap_dense_model():
    keras.utils.set_random_seed(3)
    gap_model = build_gap_classifier(2, image_size=64, weights=None)
    coef, intercept = RNG.normal(size=(1, 1280)) * 0.01, np.array([0.3])
    set_linear_head(gap_model, coef, intercept)
    pooled = pooled_classifier(gap_model, mean_pooling)
    set_class_map(pooled, coef, intercept[0])
    images = RNG.uniform(0, 255, size=(3, 64, 64, 3)).astype("float32")
    probabilities = gap_model.predict(images, verbose=0)
    np.testing.assert_allclose(
        logits(pooled, images), np.log(probabilities[:, 1] / probabilities[:, 0]), atol=1e-4
    )
    # the pooled model shares the backbone: unfreezing and splitting work as on GAP models
    assert unfreeze_above(pooled, "block_12_add") == unfreeze_above(gap_model, "block_12_add")
    lower, upper = split_at(pooled, "block_12_add")
    maps = lower.predict(images, verbose=0)
    np.testing.assert_allclose(logits(upper, maps), logits(pooled, images), atol=1e-5)
    # the upper part's class map is the whole model's, and with mean pooling Grad-CAM of the feature
    # maps is the class map (less its bias) over the number of positions, as on GAP -> Dense
    cams = class_maps(pooled, images)
    np.testing.assert_allclose(class_maps(upper, maps), cams, atol=1e-5)
    gradcam = grad_cam(pooled, images, layer_name="out_relu", class_index=1, batch_size=4)
    np.testing.assert_allclose(gradcam * cams[0].size, cams - intercept[0], rtol=1e-3, atol=1e-4)


def test_training_batches_flip_whole_maps_and_keep_labels():
    maps = np.arange(4 * 3 * 3, dtype="float32").reshape(4, 3, 3, 1)
    labels = np.array([0, 1, 2, 3])
    seen = {}
    for x, y in training_batches(maps, labels, batch_size=3, seed=0):
        for view, label in zip(x.numpy(), y.numpy()):
            seen[int(label)] = view
    assert sorted(seen) == [0, 1, 2, 3]
    for label, view in seen.items():
        original = maps[label]
        views = [original, original[::-1], original[:, ::-1], original[::-1, ::-1]]
        assert any(np.array_equal(view, v) for v in views)
    # over many seeds every flip occurs
    kinds = set()
    for seed in range(8):
        for x, _ in training_batches(maps[:1], labels[:1], 1, seed):
            kinds.add(tuple(x.numpy().ravel()[:2]))
    assert len(kinds) == 4


def test_fine_tune_keeps_the_epoch_with_the_best_validation_score():
    keras.utils.set_random_seed(4)
    model = head_on_maps(mean_pooling)
    labels = (MAPS[..., 0].mean(axis=(1, 2)) > 0).astype(int)
    epoch_scores = iter([0.5, 0.9, 0.7, 0.9])  # a tie at epoch 3 keeps epoch 1
    weights_after = []

    def score(m):
        weights_after.append(m.get_weights())
        return {"validation AUC": next(epoch_scores)}

    table = fine_tune(model, MAPS, labels, score, epochs=3, learning_rate=0.1, batch_size=2)
    assert list(table["kept"]) == [False, True, False, False]
    for kept, now in zip(weights_after[1], model.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_choice_reads_validation_scores_only():
    study = pd.DataFrame(
        {
            "head": ["GAP", "GAP", "max", "max", "LSE", "LSE"],
            "validation AUC": [0.80, 0.82, 0.78, 0.90, 0.84, 0.83],
            "pointing game": [0.5, 0.6, 0.7, 0.7, 0.4, 0.4],
        }
    )
    assert choose_head(study) == "max"  # mean 0.84 against 0.835 and 0.81
    shuffled = study.assign(
        **{"pointing game": np.random.default_rng(0).permutation(study["pointing game"])}
    )
    assert choose_head(shuffled) == "max"


def test_study_results_are_flat_means_and_spreads_per_head():
    study = pd.DataFrame(
        {
            "head": ["LSE r=5", "LSE r=5", "top-9 + min"],
            "pointing game": [0.5, 0.7, 0.4],
        }
    )
    results = study_results(study, {"pointing game": "pointing_game"})
    assert results == pytest.approx(
        {
            "pooling_lse_r_5_pointing_game_mean": 0.6,
            "pooling_lse_r_5_pointing_game_sd": np.std([0.5, 0.7], ddof=1),
            "pooling_top_9_min_pointing_game_mean": 0.4,
            "pooling_top_9_min_pointing_game_sd": 0.0,
        }
    )
