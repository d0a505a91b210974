"""Notebook 04 under the smoke profile: the lesson's CAM and
Grad-CAM equal the helpers', and CAM localizes better than chance."""

from __future__ import annotations

import pytest


@pytest.mark.notebook
def test_notebook_04_smoke(smoke_results):
    results = smoke_results["04"]
    # the headline: on mosaics labelled only "contains a
    # target image", the CAM's peak finds the target tile
    assert results["n_positive_test_mosaics"] >= 30
    assert results["pointing_game_accuracy"] > results["pointing_game_random_baseline"]
    assert 0.05 < results["pointing_game_random_baseline"] < 0.17  # chance is 1/9
    assert results["cam_energy_in_target"] > results["cam_energy_uniform_baseline"]
    # on a GAP -> dense model CAM and Grad-CAM are the same
    # map up to a positive scale (the number of positions)
    assert results["gradcam_cam_correlation"] > 0.99
    # the pooling study: one row per head, the choice among them, the headline its seeds' mean
    # with an interval around it
    heads = {"gap", "max", "lse_r_5", "top_9_min", "attention"}  # 9 positions per 96-px tile
    assert {f"pooling_{head}_pointing_game_mean" for head in heads} <= set(results)
    assert results["chosen_head"] in {"GAP", "max", "LSE r=5", "top-9 + min", "attention"}
    # one seed in the smoke profile
    assert results["pointing_game_seed_min"] == pytest.approx(results["pointing_game_accuracy"])
    assert results["pointing_game_seed_max"] == pytest.approx(results["pointing_game_accuracy"])
    assert (
        results["pointing_game_ci_low"]
        <= results["pointing_game_accuracy"]
        <= results["pointing_game_ci_high"]
    )
    # 4 x 4 positions at 128 px (notebook 03's model)
    assert results["cam_over_gradcam"] == pytest.approx(16.0, rel=1e-3)
    assert (
        results["lesson_cam_max_difference"] < 1e-4
        and results["lesson_gradcam_max_difference"] < 1e-4
    )
    # in the series: 03's model
    assert results["cell_test_accuracy"] > 0.6 and results["cell_model_from_notebook_03"] is True
    # a cell model that beats chance puts a target image above 8 background ones more often than 1/9
    assert 1 / 9 < results["pointing_game_cell_model_ceiling"] <= 1.0
