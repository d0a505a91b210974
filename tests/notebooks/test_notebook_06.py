"""Notebook 06 under the smoke profile: the planted
shortcut is learned, seen in the CAMs, found and fixed."""

from __future__ import annotations

import math

import pytest

KEYS = [
    "clean_model_test_accuracy",
    "naive_decorrelated_test_accuracy",
    "masked_decorrelated_test_accuracy",
    "guided_decorrelated_test_accuracy",
    "artifact_cam_energy_naive",
    "artifact_cam_energy_fixed",
    "detection_precision",
    "detection_recall",
]


@pytest.mark.notebook
def test_notebook_06_smoke(smoke_results):
    results = smoke_results["06"]
    for key in KEYS:
        assert key in results and math.isfinite(results[key]), key
    # the naive model looks at the stamp more than the clean model, and a fix moves it off
    assert results["artifact_cam_energy_naive"] > results["artifact_cam_energy_clean"]
    assert results["artifact_cam_energy_fixed"] < results["artifact_cam_energy_naive"]
    # the shortcut costs accuracy once the stamp stops meaning anything, and a fix wins some back
    assert results["naive_decorrelated_test_accuracy"] < results["naive_clean_test_accuracy"]
    assert (
        max(
            results["masked_decorrelated_test_accuracy"],
            results["guided_decorrelated_test_accuracy"],
        )
        > results["naive_decorrelated_test_accuracy"]
    )
    # the detector finds stamped images from the CAMs alone, better than chance
    assert results["detection_recall"] > 0.5 and results["detection_precision"] > 0.5
    # cached float16 maps against the full model's CAM
    assert results["cam_check_max_difference"] < 1e-2
