"""Classification metrics as data: one dict per model,
bootstrap intervals, cross-validation summaries.

Every function takes true labels and predicted probabilities (or scores) and
returns plain numbers or a DataFrame, so notebooks can tabulate, plot and
record them without reformatting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)


class Interval(NamedTuple):
    """A point estimate with the bounds of its confidence interval."""

    estimate: float
    low: float
    high: float


def _as_2d_proba(proba: np.ndarray) -> np.ndarray:
    """(N,) positive-class probabilities or (N, K) class probabilities -> (N, K)."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        return np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2:
        raise ValueError(f"probabilities must be (N,) or (N, K), not {proba.shape}")
    return proba


def predict_from_proba(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Predicted class indices: binary by ``threshold`` on the positive class, otherwise the
    argmax."""
    proba = _as_2d_proba(proba)
    if proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(int)
    return proba.argmax(axis=1)


def classification_report_dict(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, balanced accuracy, F1, precision, recall,
    ROC-AUC, PR-AUC and log loss of probabilities.

    Binary (``proba`` of shape (N,) for class 1, or (N, 2)): F1, precision and
    recall are those of class 1 (the positive class, e.g. "defective"),
    PR-AUC is the average precision of class 1. Multiclass ((N, K), K > 2):
    macro F1/precision/recall, one-vs-rest macro ROC-AUC and macro PR-AUC.
    AUCs are NaN when ``y_true`` holds a single class.
    """
    y_true = np.asarray(y_true).astype(int)
    proba = _as_2d_proba(proba)
    if len(y_true) != len(proba):
        raise ValueError(f"{len(y_true)} labels but {len(proba)} probability rows")
    n_classes = proba.shape[1]
    y_pred = predict_from_proba(proba, threshold)
    binary = n_classes == 2
    average = "binary" if binary else "macro"
    report = {
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "f1": f1_score(y_true, y_pred, average=average, zero_division=0),
        "precision": precision_score(y_true, y_pred, average=average, zero_division=0),
        "recall": recall_score(y_true, y_pred, average=average, zero_division=0),
    }
    single_class = len(np.unique(y_true)) < 2
    if single_class:
        report["roc_auc"] = report["pr_auc"] = float("nan")
    elif binary:
        report["roc_auc"] = roc_auc_score(y_true, proba[:, 1])
        report["pr_auc"] = average_precision_score(y_true, proba[:, 1])
    else:
        report["roc_auc"] = roc_auc_score(
            y_true, proba, multi_class="ovr", labels=np.arange(n_classes)
        )
        onehot = np.eye(n_classes)[y_true]
        report["pr_auc"] = average_precision_score(onehot, proba, average="macro")
    clipped = np.clip(proba, 1e-15, 1.0)
    report["log_loss"] = log_loss(
        y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=np.arange(n_classes)
    )
    report["n"] = int(len(y_true))
    return {name: float(value) if name != "n" else value for name, value in report.items()}


def bootstrap_interval(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float] = accuracy_score,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """``metric(y_true, y_pred)`` with a percentile bootstrap
    interval (test samples resampled with replacement)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError("y_true and y_pred must be non-empty and of the same length")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(y_true), size=(n_resamples, len(y_true)))
    scores = np.array([metric(y_true[s], y_pred[s]) for s in samples])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return Interval(float(metric(y_true, y_pred)), float(low), float(high))


def accuracy_interval(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Accuracy with its percentile bootstrap interval (vectorized: fast for many resamples)."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(float)
    if correct.size == 0:
        raise ValueError("no predictions")
    rng = np.random.default_rng(seed)
    scores = correct[rng.integers(0, len(correct), size=(n_resamples, len(correct)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return Interval(float(correct.mean()), float(low), float(high))


def cv_summary(scores: np.ndarray | dict) -> dict[str, float]:
    """Mean and (population) standard deviation of per-fold scores.

    Accepts an array of scores or the dict returned by ``cross_validate`` (its ``test_score``).
    """
    if isinstance(scores, dict):
        scores = scores["test_score"]
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        raise ValueError("no scores")
    return {"mean": float(scores.mean()), "std": float(scores.std()), "folds": int(scores.size)}


def format_mean_std(mean: float, std: float, percent: bool = True) -> str:
    """``"85.3 % +/- 1.2"`` (or ``"0.853 +/- 0.012"`` with ``percent=False``)."""
    return f"{100 * mean:.1f} % +/- {100 * std:.1f}" if percent else f"{mean:.3f} +/- {std:.3f}"


def metrics_by_group(
    y_true: np.ndarray, proba: np.ndarray, groups: np.ndarray, threshold: float = 0.5
) -> pd.DataFrame:
    """``classification_report_dict`` per group (e.g. module type), one row per group plus
    ``all``."""
    y_true, groups = np.asarray(y_true), np.asarray(groups)
    proba = _as_2d_proba(proba)
    rows = {
        str(g): classification_report_dict(y_true[groups == g], proba[groups == g], threshold)
        for g in np.unique(groups)
    }
    rows["all"] = classification_report_dict(y_true, proba, threshold)
    return pd.DataFrame.from_dict(rows, orient="index")


def most_confident_errors(
    y_true: np.ndarray, proba: np.ndarray, k: int = 8, threshold: float = 0.5
) -> np.ndarray:
    """Positions of the ``k`` wrong predictions with
    the highest probability for the predicted class."""
    y_true = np.asarray(y_true).astype(int)
    proba = _as_2d_proba(proba)
    y_pred = predict_from_proba(proba, threshold)
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = proba[wrong, y_pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]
