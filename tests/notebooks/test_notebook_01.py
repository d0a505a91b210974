"""Notebook 01 under the smoke profile: real weights, the
lesson's featurizer equals the cached one, the probe learns."""

import pytest

from helpers.models.runtime import resolve_runtime


@pytest.mark.notebook
def test_featurization_notebook_smoke(smoke_results):
    results = smoke_results["01"]
    assert (
        results["n_images"] == 360
        and results["feature_dim"] == 1280
        and results["image_size"] == 96
    )
    assert results["linear_probe_accuracy"] > results["majority_accuracy"] > 0.6
    # what runtime="auto" picks on this machine: TensorFlow where a GPU is visible
    assert results["featurize_images_per_s"] > 0 and results["runtime"] == resolve_runtime("auto")
    assert (
        results["imagenet_cat_top1"] == "Egyptian cat"
        and results["imagenet_coffee_top1"] == "espresso"
    )
    # the plain Keras featurizer and the cached helper agree
    assert results["lesson_feature_max_difference"] < 1e-3
