"""Notebook 03 under the smoke profile (the CPU path); the plain path a GPU runs is checked on the
four-class folder run of test_own_data."""

import keras
import numpy as np
import pytest

from helpers.data.catalog import load_dataset
from helpers.data.datasets import split_indices, stratified_sample
from helpers.models.folding import FoldedConv
from helpers.runner import PROFILES


@pytest.fixture(scope="module")
def notebook_03(smoke_series, smoke_results):
    return smoke_series, smoke_results["03"]


@pytest.mark.notebook
def test_finetuned_model_beats_the_majority_baseline(notebook_03):
    _, results = notebook_03
    assert results["finetuned_test_accuracy"] > results["majority_test_accuracy"]
    assert results["finetuned_test_roc_auc"] > 0.5
    assert 0 < results["epochs_run"] == results["finetune_epochs_run"] <= 3
    # the head is the fitted logistic regression
    assert results["head_logistic_max_probability_difference"] < 1e-4
    # the notebook's Keras model is helpers' GAP classifier
    assert results["lesson_model_max_difference"] < 1e-4
    assert results["train_seconds"] > results["feature_cache_seconds"] > 0
    assert results["head_only_test_accuracy"] > results["majority_test_accuracy"]


@pytest.mark.notebook
def test_saved_model_reloads_with_the_same_predictions(notebook_03):
    output_dir, results = notebook_03
    assert results["reloaded_same_predictions"] is True
    assert results["reloaded_max_probability_difference"] < 1e-4
    path = output_dir / "models" / "elpv_finetuned.keras"
    model, again = keras.models.load_model(path), keras.models.load_model(path)
    size = PROFILES["smoke"]["03"]["IMAGE_SIZE"]
    assert model.input_shape == (None, size, size, 3)
    names = [layer.name for layer in model.layers]
    assert names[names.index("gap") + 1 :] == ["dropout", "classifier"]
    dataset = load_dataset("elpv")
    _, test = split_indices(dataset)
    test = stratified_sample(test, dataset.strata, 16, 0)
    images = np.stack(
        [np.repeat(np.asarray(dataset.image(i))[..., None], 3, -1) for i in test]
    ).astype("float32")
    images = keras.ops.convert_to_numpy(
        keras.ops.image.resize(images, (size, size), antialias=True)
    )
    first, second = model.predict(images, verbose=0), again.predict(images, verbose=0)
    np.testing.assert_allclose(first, second, atol=1e-6)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, atol=1e-5)
    assert (output_dir / "models" / "elpv_head_only.keras").exists()
    # the best epoch's upper part, trained with its frozen BatchNorm folded into the convolutions
    checkpoint = keras.models.load_model(output_dir / "models" / "elpv_checkpoint.keras")
    assert sum(isinstance(layer, FoldedConv) for layer in checkpoint.layers) > 0
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in checkpoint.layers
    )
