"""Figures of numbers: confusion matrices, ROC and PR curves, calibration, bars, learning curves.

Each function returns a matplotlib ``Figure`` built without pyplot (shown once by Jupyter as PNG,
saved with ``fig.savefig``), so notebooks, scripts and tests leak no open figures. Pictures of
images and maps are in ``helpers.report.figures``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import BytesIO

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


class PNGFigure(Figure):
    """A Figure that Jupyter displays as PNG (pyplot-free figures have no display hook
    otherwise)."""

    def _repr_png_(self) -> bytes:
        buffer = BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: bool = False,
    title: str = "",
) -> Figure:
    """Confusion matrix as a heat map, rows = true class, columns
    = predicted class, counts (or row fractions) written in."""
    labels = np.arange(len(class_names))
    matrix = confusion_matrix(
        y_true, y_pred, labels=labels, normalize="true" if normalize else None
    )
    fig = PNGFigure(
        figsize=(1.2 * len(labels) + 2.5, 1.2 * len(labels) + 1.5), layout="constrained"
    )
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8)
    for (i, j), value in np.ndenumerate(matrix):
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
        )
    ax.set(
        xticks=labels,
        yticks=labels,
        xticklabels=class_names,
        yticklabels=class_names,
        xlabel="predicted",
        ylabel="true",
    )
    ax.set_title(title or "Confusion matrix")
    return fig


def plot_roc_pr(
    y_true: np.ndarray, scores: Mapping[str, np.ndarray], *, positive: str = "positive class"
) -> Figure:
    """ROC curves (left) and precision-recall curves (right) of
    several models' positive-class scores, AUCs in the legend."""
    y_true = np.asarray(y_true)
    fig = PNGFigure(figsize=(11, 4.5), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(y_true, score)
        roc_ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y_true, score):.3f})")
        precision, recall, _ = precision_recall_curve(y_true, score)
        pr_ax.plot(
            recall, precision, label=f"{name} (AP {average_precision_score(y_true, score):.3f})"
        )
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    pr_ax.axhline(y_true.mean(), color="grey", linestyle=":", label=f"chance ({y_true.mean():.2f})")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    pr_ax.set(
        xlabel=f"recall ({positive})",
        ylabel="precision",
        title="Precision-recall curve",
        ylim=(0, 1.02),
    )
    roc_ax.legend(loc="lower right", fontsize="small")
    pr_ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_calibration(
    y_true: np.ndarray, probabilities: Mapping[str, np.ndarray], *, n_bins: int = 10
) -> Figure:
    """Reliability diagram: observed frequency of the positive
    class against the mean predicted probability, per bin."""
    fig = PNGFigure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, proba in probabilities.items():
        observed, predicted = calibration_curve(y_true, proba, n_bins=n_bins, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed fraction of positives",
        title="Calibration",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_image_gallery(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    size: float = 2.6,
) -> Figure:
    """Images in a grid (grayscale shown in gray), with an optional title under each."""
    if len(images) == 0:
        raise ValueError("no images to show")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig = PNGFigure(figsize=(size * ncols, size * nrows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= len(images):
            continue
        image = np.asarray(images[i])
        ax.imshow(image.squeeze(), cmap="gray" if image.squeeze().ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize="small")
    return fig


def plot_metric_bars(
    table: pd.DataFrame,
    metrics: Sequence[str],
    *,
    title: str = "",
    reference: Mapping[str, float] | None = None,
) -> Figure:
    """Grouped bars: one group per row of ``table`` (its index),
    one bar per metric column; optional horizontal reference lines."""
    fig = PNGFigure(
        figsize=(max(5, 1.3 * len(table) * max(1, len(metrics)) / 2 + 2), 4), layout="constrained"
    )
    ax = fig.subplots()
    positions = np.arange(len(table))
    width = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        bars = ax.bar(
            positions + (k - (len(metrics) - 1) / 2) * width, table[metric], width, label=metric
        )
        ax.bar_label(bars, fmt="%.2f", fontsize="x-small")
    for name, value in (reference or {}).items():
        ax.axhline(value, linestyle="--", color="grey", linewidth=1)
        ax.text(
            len(table) - 0.5,
            value,
            f" {name}",
            va="bottom",
            ha="right",
            fontsize="x-small",
            color="dimgrey",
        )
    ax.set_xticks(positions, [str(i) for i in table.index])
    ax.set_title(title)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def plot_scores_with_errors(
    names: Sequence[str],
    means: Sequence[float],
    stds: Sequence[float],
    *,
    xlabel: str = "score",
    title: str = "",
) -> Figure:
    """Horizontal bars of mean scores with +/- std error
    bars (e.g. cross-validated accuracy per variant)."""
    means, stds = np.asarray(means, float), np.asarray(stds, float)
    fig = PNGFigure(figsize=(7, 0.45 * len(names) + 1.2), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(names))[::-1]
    ax.barh(positions, means, xerr=stds, color="tab:blue", alpha=0.8, capsize=3)
    for y, m in zip(positions, means):
        ax.text(m, y, f" {m:.3f}", va="center", ha="left", fontsize="small")
    ax.set_yticks(positions, list(names))
    low = max(0.0, float((means - stds).min()) - 0.02)
    ax.set_xlim(low, min(1.0, float((means + stds).max()) + 0.03) if means.max() <= 1 else None)
    ax.set(xlabel=xlabel, title=title)
    return fig


def plot_accuracy_bars(
    values: Mapping[str, float],
    *,
    xlabel: str = "test accuracy",
    title: str = "",
    reference: Sequence[str] = (),
) -> Figure:
    """Horizontal bars from 0 to 1, top to bottom in the order given, each value written;
    ``reference`` rows (e.g. published results, majority class) in grey."""
    return _value_bars(values, xlabel=xlabel, title=title, reference=reference, limit=1.0, digits=3)


def plot_throughput(
    values: Mapping[str, float], *, title: str = "", reference: Sequence[str] = ()
) -> Figure:
    """Images per second as horizontal bars, top to bottom in the order given, each rate written;
    ``reference`` rows (e.g. the single process to beat) in grey."""
    return _value_bars(
        values,
        xlabel="images/s",
        title=title,
        reference=reference,
        limit=max(values.values()),
        digits=0,
    )


def _value_bars(
    values: Mapping[str, float],
    *,
    xlabel: str,
    title: str,
    reference: Sequence[str],
    limit: float,
    digits: int,
) -> Figure:
    names, scores = list(values), np.asarray(list(values.values()), float)
    fig = PNGFigure(figsize=(8, 0.45 * len(names) + 1.3), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(names))[::-1]
    colours = ["#bdbdbd" if name in reference else "#3182bd" for name in names]
    ax.barh(positions, scores, color=colours)
    for y, value in zip(positions, scores):
        ax.text(value + 0.005 * limit, y, f"{value:.{digits}f}", va="center", fontsize="small")
    ax.set_yticks(positions, names)
    ax.set(xlim=(0, 1.08 * limit), xlabel=xlabel, title=title)
    return fig


def plot_learning_curves(history: Mapping[str, Sequence[float]], *, title: str = "") -> Figure:
    """Loss and accuracy per epoch, training against validation (a Keras ``History.history``)."""
    fig = PNGFigure(figsize=(11, 3.6), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ["loss", "accuracy"]):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=metric)
        ax.legend()
    fig.suptitle(title)
    return fig


def plot_epoch_scores(
    histories: Mapping[object, pd.DataFrame], columns: Sequence[str], *, title: str = ""
) -> Figure:
    """One panel per score column, one line per run (e.g. per seed) over the epochs of its
    table; a dot marks the epoch the run kept (a boolean ``kept`` column, when there is one)."""
    fig = PNGFigure(figsize=(4.2 * len(columns), 3.2), layout="constrained")
    for ax, column in zip(np.atleast_1d(fig.subplots(1, len(columns))), columns):
        for run, table in histories.items():
            (line,) = ax.plot(table.index, table[column], "-", label=str(run))
            if "kept" in table:
                kept = table.index[table["kept"].to_numpy(bool)]
                ax.plot(kept, table.loc[kept, column], "o", color=line.get_color())
        ax.set(xlabel="epoch", ylabel=column)
    ax.legend(fontsize="small", title="run")
    fig.suptitle(title)
    return fig


def plot_grouped_barh(
    table: pd.DataFrame, columns: Sequence[str], *, reference: float | None = None, xlabel: str = ""
) -> Figure:
    """Horizontal bars: one group per row of ``table`` (top
    to bottom), one bar per column; a dotted reference line."""
    fig = PNGFigure(
        figsize=(9, 0.6 * len(table) * max(1, len(columns)) / 2 + 1.5), layout="constrained"
    )
    ax = fig.subplots()
    positions = np.arange(len(table))[::-1]
    height = 0.8 / len(columns)
    for k, column in enumerate(columns):
        ax.barh(
            positions + (len(columns) - 1 - k - (len(columns) - 1) / 2) * height,
            table[column],
            height,
            label=column,
        )
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(positions, [str(i) for i in table.index])
    ax.set(xlim=(0, 1), xlabel=xlabel)
    ax.legend(fontsize="small", loc="lower right")
    return fig
