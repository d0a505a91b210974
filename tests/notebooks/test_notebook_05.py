"""Notebook 05 under the smoke profile: the models learn,
BatchNorm holds in inference mode, CAM finds injected faults."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.series import load_series

CHANCE_BASIC_MOTIONS = 1 / 4  # four balanced activities


@pytest.fixture(scope="module")
def results(smoke_results):
    return smoke_results["05"]


@pytest.mark.notebook
def test_fcn_and_minirocket_beat_chance_on_basic_motions(results):
    assert results["fcn_accuracy_basic_motions"] > CHANCE_BASIC_MOTIONS + 0.2
    assert results["minirocket_accuracy_basic_motions"] > CHANCE_BASIC_MOTIONS + 0.4
    # reported, not required to be good on 40 series
    assert results["lstm_accuracy_basic_motions"] > CHANCE_BASIC_MOTIONS
    assert results["image_lgbm_accuracy_basic_motions"] > CHANCE_BASIC_MOTIONS


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["ItalyPowerDemand", "PickupGestureWiimoteZ"])
def test_every_model_beats_the_majority_on_a_univariate_and_an_unequal_length_set(results, name):
    series = load_series(name)
    majority = np.bincount(series.y_test).max() / len(series.y_test)
    for model in ("fcn", "lstm", "minirocket", "image_lgbm"):
        assert results[f"{model}_accuracy_{name}"] > majority, model
    inference = results[f"fcn_train_accuracy_inference_{name}"]
    assert inference >= results[f"fcn_train_accuracy_training_mode_{name}"] - 0.05


@pytest.mark.notebook
def test_the_fcn_keeps_its_training_accuracy_in_inference_mode(results):
    assert (
        results["fcn_train_accuracy_inference_basic_motions"]
        >= results["fcn_train_accuracy_training_mode_basic_motions"] - 0.05
    )


@pytest.mark.notebook
def test_cam_localizes_faults_better_than_a_random_peak(results):
    baseline = results["cam_fault_localization_random_baseline"]
    assert 0.05 < baseline < 0.25  # fault windows are 10-15 % of the run
    assert results["cam_fault_localization"] > baseline + 0.2
    assert results["channel_attribution_accuracy"] > results["channel_attribution_random_baseline"]


@pytest.mark.notebook
def test_timings_and_protocol_are_recorded(results):
    assert results["seeds"] == 1
    assert (
        results["fcn_s_per_epoch_basic_motions"] > 0
        and results["lstm_s_per_epoch_basic_motions"] > 0
    )
    assert (
        results["fcn_latency_ms_basic_motions"] > 0
        and results["minirocket_latency_ms_basic_motions"] > 0
    )
