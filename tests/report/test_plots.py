"""Tests of helpers.report.plots: each figure holds what it claims to show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers.report import plots
from helpers.report.plots import (
    plot_accuracy_bars,
    plot_calibration,
    plot_confusion_matrix,
    plot_image_gallery,
    plot_metric_bars,
    plot_roc_pr,
    plot_scores_with_errors,
    plot_throughput,
)

Y = np.array([0, 0, 0, 1, 1, 1, 1, 0, 1, 0])
P = np.array([0.1, 0.4, 0.6, 0.7, 0.9, 0.3, 0.8, 0.2, 0.95, 0.05])


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_confusion_matrix_writes_the_counts():
    fig = plot_confusion_matrix(Y, (P >= 0.5).astype(int), ["functional", "defective"])
    assert isinstance(fig, Figure)
    assert fig._repr_png_().startswith(b"\x89PNG")  # Jupyter shows it without pyplot
    ax = fig.axes[0]
    # TN=4 (0,1,7,9), FP=1 (2), FN=1 (5), TP=4 (3,4,6,8), row-major
    assert _texts(ax) == ["4", "1", "1", "4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["functional", "defective"]
    normalized = plot_confusion_matrix(Y, (P >= 0.5).astype(int), ["f", "d"], normalize=True)
    assert _texts(normalized.axes[0]) == ["0.80", "0.20", "0.20", "0.80"]


def test_roc_pr_has_one_curve_per_model_with_auc_in_legend():
    fig = plot_roc_pr(Y, {"model a": P, "model b": 1 - P})
    roc_ax, pr_ax = fig.axes
    labels = [t.get_text() for t in roc_ax.get_legend().get_texts()]
    assert labels[0] == "model a (AUC 0.920)"  # 23 of 25 pairs ranked right
    assert labels[1] == "model b (AUC 0.080)"
    assert len(roc_ax.lines) == 3 and len(pr_ax.lines) == 3  # two models and chance
    x, y = roc_ax.lines[0].get_data()
    assert (x[0], y[0]) == (0, 0) and (x[-1], y[-1]) == (1, 1)


def test_calibration_curve_points_are_bin_frequencies():
    y = np.array([0] * 5 + [1] * 5)
    p = np.array([0.1] * 5 + [0.9] * 5)
    fig = plot_calibration(y, {"m": p}, n_bins=2)
    ax = fig.axes[0]
    predicted, observed = ax.lines[1].get_data()
    assert np.allclose(predicted, [0.1, 0.9]) and np.allclose(observed, [0, 1])


def test_gallery_shows_each_image_with_its_title():
    images = [np.full((8, 8), i * 20, np.uint8) for i in range(5)]
    fig = plot_image_gallery(images, [f"img {i}" for i in range(5)], ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == [f"img {i}" for i in range(5)]
    assert np.array_equal(shown[2].images[0].get_array(), images[2])
    with pytest.raises(ValueError):
        plot_image_gallery([])


def test_metric_bars_one_bar_per_row_and_metric():
    table = pd.DataFrame({"accuracy": [0.9, 0.8], "f1": [0.7, 0.6]}, index=["mono", "poly"])
    fig = plot_metric_bars(table, ["accuracy", "f1"], reference={"SVM": 0.82})
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 2) for p in ax.patches)
    assert heights == [0.6, 0.7, 0.8, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mono", "poly"]
    assert any(np.allclose(line.get_ydata(), 0.82) for line in ax.lines)


def test_scores_with_errors_orders_names_top_down():
    fig = plot_scores_with_errors(
        ["a", "b", "c"], [0.8, 0.85, 0.9], [0.01, 0.02, 0.01], xlabel="cv accuracy"
    )
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx([0.8, 0.85, 0.9])
    ticks = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert ticks["a"] > ticks["b"] > ticks["c"]
    assert ax.get_xlabel() == "cv accuracy"


def test_accuracy_bars_start_at_zero_so_a_small_majority_bar_shows():
    fig = plot_accuracy_bars(
        {"fine-tuned": 0.98, "majority class": 0.247}, reference=["majority class"]
    )
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0
    assert [round(p.get_width(), 3) for p in ax.patches] == [0.98, 0.247]
    assert [t.get_text() for t in ax.texts] == ["0.980", "0.247"]
    # the reference row in grey
    assert ax.patches[1].get_facecolor() != ax.patches[0].get_facecolor()


def test_throughput_bars_scale_to_the_fastest_and_write_whole_rates():
    fig = plot_throughput(
        {"one process": 82.4, "1 worker": 38.2, "2 workers": 41.9}, reference=["one process"]
    )
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((0, 1.08 * 82.4))
    assert [t.get_text() for t in ax.texts] == ["82", "38", "42"]
    assert ax.get_xlabel() == "images/s"
    assert ax.patches[0].get_facecolor() != ax.patches[1].get_facecolor()


def test_epoch_scores_draw_a_line_per_run_and_dot_the_kept_epoch():
    table = pd.DataFrame({"auc": [0.6, 0.8, 0.7], "kept": [False, True, False]})
    fig = plots.plot_epoch_scores({0: table, 1: table.assign(auc=[0.5, 0.5, 0.9])}, ["auc"])
    (ax,) = fig.get_axes()
    lines = ax.get_lines()  # per run: the line, then its kept dot
    np.testing.assert_array_equal(lines[0].get_ydata(), [0.6, 0.8, 0.7])
    assert list(lines[1].get_xdata()) == [1] and list(lines[1].get_ydata()) == [0.8]
    assert list(lines[3].get_xdata()) == [1] and list(lines[3].get_ydata()) == [0.5]
