"""Notebook 02 under the smoke profile: LightGBM on frozen
features beats the majority class, honestly measured."""

from __future__ import annotations

import pytest


@pytest.mark.notebook
def test_notebook_02_smoke(smoke_results):
    results = smoke_results["02"]
    assert results["n_train"] == 240 and results["n_test"] == 120
    assert results["lgbm_test_accuracy"] > results["majority_accuracy"]
    assert results["lgbm_test_roc_auc"] > 0.6
    assert (
        results["lgbm_test_accuracy_ci_low"]
        <= results["lgbm_test_accuracy"]
        <= results["lgbm_test_accuracy_ci_high"]
    )
    assert 0 < results["cv_accuracy_std"] < results["cv_accuracy_mean"]
    assert results["cv_accuracy_mean"] > 0.6 and results["baseline_lgbm_cv_accuracy"] > 0.6
    assert results["chosen_features"] == "notebook 01's features (study skipped)"
    assert (
        results["logreg_test_accuracy"] > results["majority_accuracy"]
        and results["pipeline_test_accuracy"] > results["majority_accuracy"]
    )
    assert results["lgbm_test_balanced_accuracy"] > 0.5 and results["lgbm_test_f1"] > 0.2
