import pytest


@pytest.mark.notebook
def test_featurization_notebook_smoke(run_notebook):
    results = run_notebook("01")
    assert results["n_images"] == 360 and results["feature_dim"] == 1280 and results["image_size"] == 96
    assert results["linear_probe_accuracy"] > results["majority_accuracy"] > 0.6
    assert results["featurize_images_per_s"] > 0
