"""Comparing models on series data sets: trained once per seed,
timed, scored the same way; and the two non-deep baselines.

Notebook 05 writes the FCN and the LSTM itself; this is the at-scale part: ``compare_series_models``
runs any set of candidates over data sets and seeds and measures each one the same way (accuracy,
macro-F1, parameters, training time, latency). ``minirocket`` and ``recurrence_lightgbm`` are the
baselines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from helpers.data.series import SeriesDataset, recurrence_images
from helpers.models.training import inference_latency


@dataclass
class Trial:
    """One trained candidate: ``predict`` maps (N, T, C) series to class probabilities."""

    predict: Callable[[np.ndarray], np.ndarray]
    train_seconds: float
    params: int
    frozen_params: int = 0
    seconds_per_epoch: float = float("nan")
    model: object = None


def compare_series_models(
    candidates: dict[str, Callable[[SeriesDataset, int], Trial]],
    datasets: dict[str, SeriesDataset],
    seeds: list[int],
    *,
    once: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, dict]:
    """Every candidate on every data set for every seed
    (``once``: the first seed only, for deterministic ones).

    Returns one row per run (data set, model, seed, accuracy, macro-F1, params, timings, latencies)
    and the trials of the last seed, by (data set, model), for explaining them afterwards.
    """
    rows, last = [], {}
    for name, ds in datasets.items():
        for seed in seeds:
            for model_name, build in candidates.items():
                if model_name in once and seed != seeds[0]:
                    continue
                trial = build(ds, seed)
                predicted = trial.predict(ds.X_test).argmax(axis=1)
                latency = inference_latency(trial.predict, ds.X_test, repeats=3)
                rows.append(
                    {
                        "dataset": name,
                        "model": model_name,
                        "seed": seed,
                        "accuracy": accuracy_score(ds.y_test, predicted),
                        "macro_f1": f1_score(ds.y_test, predicted, average="macro"),
                        "params": trial.params,
                        "frozen_params": trial.frozen_params,
                        "s_per_epoch": trial.seconds_per_epoch,
                        "train_s": trial.train_seconds,
                        "latency_batched_ms": 1e3 * latency["batched"],
                        "latency_single_ms": 1e3 * latency["single"],
                    }
                )
                last[name, model_name] = trial
    return pd.DataFrame(rows), last


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every (data set, model), timings as medians."""
    return (
        runs.groupby(["dataset", "model"], sort=False)
        .agg(
            seeds=("seed", "size"),
            accuracy=("accuracy", "mean"),
            accuracy_std=("accuracy", "std"),
            macro_f1=("macro_f1", "mean"),
            params=("params", "first"),
            frozen_params=("frozen_params", "first"),
            s_per_epoch=("s_per_epoch", "median"),
            train_s=("train_s", "median"),
            latency_batched_ms=("latency_batched_ms", "median"),
            latency_single_ms=("latency_single_ms", "median"),
        )
        .fillna({"accuracy_std": 0.0})
    )


def _channels_first(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(X).transpose(0, 2, 1))  # aeon wants (N, C, T)


def minirocket(ds: SeriesDataset, seed: int, n_kernels: int = 10_000) -> Trial:
    """MiniRocket (Dempster et al. 2021, aeon): random
    convolutional kernels as features, then a ridge classifier."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    start = time.perf_counter()
    classifier = MiniRocketClassifier(n_kernels=n_kernels, random_state=seed, n_jobs=1).fit(
        _channels_first(ds.X_train), ds.y_train
    )
    linear = classifier.pipeline_.steps[-1][1]
    return Trial(
        lambda X: classifier.predict_proba(_channels_first(X)),
        time.perf_counter() - start,
        linear.coef_.size + linear.intercept_.size,
    )


def recurrence_lightgbm(ds: SeriesDataset, seed: int, network, image_size: int = 96) -> Trial:
    """Each series as a picture of per-channel recurrence
    plots, a frozen ImageNet ``network``'s features, LightGBM."""
    from lightgbm import LGBMClassifier

    def features(X: np.ndarray) -> np.ndarray:
        # the real lengths where they are known
        lengths = ds.lengths_test if len(X) == len(ds.X_test) else None
        return network.predict(recurrence_images(X, lengths, image_size), batch_size=64)

    start = time.perf_counter()
    classifier = LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=5,
        colsample_bytree=0.3,
        random_state=seed,
        verbose=-1,
    )
    classifier.fit(
        network.predict(recurrence_images(ds.X_train, ds.lengths_train, image_size), batch_size=64),
        ds.y_train,
    )
    leaves = int(classifier.booster_.trees_to_dataframe()["split_feature"].isna().sum())
    return Trial(
        lambda X: classifier.predict_proba(features(X)),
        time.perf_counter() - start,
        leaves,
        network.model.count_params(),
    )
