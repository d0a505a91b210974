"""Notebook 04 under the smoke profile: CAM localizes better than chance, and CAM equals Grad-CAM."""

from __future__ import annotations

import pytest


@pytest.mark.notebook
def test_notebook_04_smoke(run_notebook):
    results = run_notebook("04")
    # the headline: on mosaics labelled only "contains a defective cell", the CAM's peak finds the defective cell
    assert results["n_positive_test_mosaics"] >= 30
    assert results["pointing_game_accuracy"] > results["pointing_game_random_baseline"]
    assert 0.05 < results["pointing_game_random_baseline"] < 0.17  # chance is 1/9
    assert results["cam_energy_in_target"] > results["cam_energy_uniform_baseline"]
    # on a GAP -> dense model CAM and Grad-CAM are the same map up to a positive scale
    assert results["gradcam_cam_correlation"] > 0.99
    assert results["gradcam_cam_correlation_mosaics"] > 0.99
    assert 0.0 <= results["cell_test_accuracy"] <= 1.0
    # a cell model that beats chance puts a defective cell above 8 functional ones more often than 1/9
    assert 1 / 9 < results["pointing_game_cell_model_ceiling"] <= 1.0
