"""Notebook 02 runs end to end under the smoke profile and its LightGBM beats the majority baseline."""

from __future__ import annotations

import pytest


@pytest.mark.notebook
def test_notebook_02_smoke(run_notebook):
    results = run_notebook("02")
    assert results["n_train"] == 240 and results["n_test"] == 120
    assert results["lgbm_test_accuracy"] > results["majority_accuracy"]
    assert results["lgbm_test_roc_auc"] > 0.6
    assert results["lgbm_test_accuracy_ci_low"] <= results["lgbm_test_accuracy"] <= results["lgbm_test_accuracy_ci_high"]
    assert 0 < results["cv_accuracy_std"] < results["cv_accuracy_mean"] <= 1
    for name in ("lgbm_test_balanced_accuracy", "lgbm_test_f1", "logreg_test_accuracy", "pipeline_test_accuracy"):
        assert 0 <= results[name] <= 1
