"""Tests of helpers.report.metrics: exact values on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from helpers.report.metrics import (
    accuracy_interval,
    bootstrap_interval,
    classification_report_dict,
    cv_summary,
    format_mean_std,
    metrics_by_group,
    most_confident_errors,
    predict_from_proba,
)

Y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
P = np.array([0.1, 0.4, 0.6, 0.7, 0.9, 0.3, 0.8, 0.2])  # errors at positions 2 (fp) and 5 (fn)


def test_binary_report_exact_values():
    report = classification_report_dict(Y, P)
    assert report["accuracy"] == pytest.approx(6 / 8)
    assert report["balanced_accuracy"] == pytest.approx(0.75)
    assert report["precision"] == pytest.approx(3 / 4)
    assert report["recall"] == pytest.approx(3 / 4)
    assert report["f1"] == pytest.approx(0.75)
    # positives (0.7, 0.9, 0.3, 0.8) vs negatives (0.1, 0.4, 0.6, 0.2): 14 of 16 pairs ranked right
    assert report["roc_auc"] == pytest.approx(14 / 16)
    assert report["n"] == 8
    assert 0 < report["pr_auc"] <= 1


def test_report_accepts_two_column_probabilities_and_threshold():
    two_columns = np.column_stack([1 - P, P])
    assert classification_report_dict(Y, two_columns) == pytest.approx(
        classification_report_dict(Y, P)
    )
    strict = classification_report_dict(Y, P, threshold=0.65)  # position 2 (0.6) becomes right
    assert strict["accuracy"] == pytest.approx(7 / 8)


def test_f1_is_that_of_the_positive_class():
    y = np.array([1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.1, 0.1])
    report = classification_report_dict(y, p)
    assert report["f1"] == pytest.approx(f1_score(y, p >= 0.5)) == pytest.approx(2 / 3)


def test_multiclass_report():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    report = classification_report_dict(y, proba)
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert 0 < report["roc_auc"] <= 1


def test_single_class_gives_nan_auc_and_mismatch_raises():
    report = classification_report_dict(np.ones(3), np.array([0.9, 0.2, 0.8]))
    assert np.isnan(report["roc_auc"]) and report["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        classification_report_dict(Y, P[:-1])


def test_predict_from_proba():
    assert predict_from_proba(P).tolist() == [0, 0, 1, 1, 1, 0, 1, 0]
    assert predict_from_proba(np.array([[0.2, 0.5, 0.3]])).tolist() == [1]


def test_accuracy_interval_brackets_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    pred = np.where(rng.random(400) < 0.85, y, 1 - y)
    small = accuracy_interval(y[:100], pred[:100])
    large = accuracy_interval(y, pred)
    assert large.estimate == pytest.approx((y == pred).mean())
    assert large.low < large.estimate < large.high
    assert (large.high - large.low) < (small.high - small.low)
    # normal approximation: half-width ~ 1.96 * sqrt(p(1-p)/n)
    half = 1.96 * np.sqrt(large.estimate * (1 - large.estimate) / 400)
    assert (large.high - large.low) / 2 == pytest.approx(half, rel=0.15)


def test_bootstrap_interval_matches_vectorized_accuracy_interval_in_width():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.8, y, 1 - y)
    generic = bootstrap_interval(y, pred, n_resamples=500, seed=3)
    fast = accuracy_interval(y, pred, n_resamples=500, seed=3)
    assert generic.estimate == fast.estimate
    assert generic.low == pytest.approx(fast.low, abs=0.02) and generic.high == pytest.approx(
        fast.high, abs=0.02
    )
    perfect = accuracy_interval(y, y)
    assert perfect == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_interval(y, pred, confidence=1.5)


def test_cv_summary_and_format():
    summary = cv_summary(np.array([0.8, 0.9]))
    assert summary == {"mean": pytest.approx(0.85), "std": pytest.approx(0.05), "folds": 2}
    assert cv_summary({"test_score": [1.0, 1.0, 1.0]})["std"] == 0
    assert format_mean_std(0.8534, 0.0121) == "85.3 % +/- 1.2"
    assert format_mean_std(0.8534, 0.0121, percent=False) == "0.853 +/- 0.012"
    with pytest.raises(ValueError):
        cv_summary([])


def test_metrics_by_group():
    groups = np.array(["mono"] * 4 + ["poly"] * 4)
    table = metrics_by_group(Y, P, groups)
    assert list(table.index) == ["mono", "poly", "all"]
    assert table.loc["mono", "accuracy"] == pytest.approx(3 / 4)  # position 2 wrong
    assert table.loc["poly", "accuracy"] == pytest.approx(3 / 4)  # position 5 wrong
    assert table.loc["all", "n"] == 8


def test_most_confident_errors_are_ordered_by_confidence():
    # errors: position 2 predicted 1 with p=0.6, position 5 predicted 0 with confidence 0.7
    assert most_confident_errors(Y, P).tolist() == [5, 2]
    assert most_confident_errors(Y, P, k=1).tolist() == [5]
    assert most_confident_errors(Y, Y.astype(float)).size == 0
