"""Figures of images and features: the featurization diagram,
samples, the ImageNet check, feature maps, embeddings.

Pyplot-free like ``helpers.report.plots``: every
function returns a ``Figure`` that Jupyter shows as PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from helpers.data.datasets import ImageDataset
from helpers.report.plots import PNGFigure


def featurization_diagram(backbone: str = "MobileNetV2", dimension: int = 1280) -> Figure:
    """Boxes and arrows: image -> frozen ImageNet CNN -> feature vector -> a regular ML model."""
    fig = PNGFigure(figsize=(12, 2.6))
    ax = fig.subplots()
    boxes = [
        (0.02, "image", "#dddddd"),
        (0.27, f"frozen ImageNet CNN\n({backbone}, no head)", "#9ecae1"),
        (0.52, f"feature vector\n{dimension:,} numbers", "#fdd0a2"),
        (0.77, "regular ML model\n(logistic regression,\nLightGBM)", "#a1d99b"),
    ]
    width = 0.18
    for x, text, colour in boxes:
        ax.add_patch(
            FancyBboxPatch((x, 0.3), width, 0.4, boxstyle="round,pad=0.01", fc=colour, ec="black")
        )
        ax.text(x + width / 2, 0.5, text, ha="center", va="center", fontsize=10)
    for (x0, *_), (x1, *_) in zip(boxes, boxes[1:]):
        ax.add_patch(
            FancyArrowPatch(
                (x0 + width + 0.015, 0.5), (x1 - 0.015, 0.5), arrowstyle="-|>", mutation_scale=18
            )
        )
    ax.text(
        0.37,
        0.12,
        "weights frozen: trained once on 1.2 M ImageNet photos",
        ha="center",
        fontsize=9,
        style="italic",
    )
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis("off")
    return fig


def class_samples(
    dataset: ImageDataset, *, per_row: int = 6, group_column: str | None = None, seed: int = 0
) -> Figure:
    """A row of random images per class (and per group,
    e.g. module type, when ``group_column`` is given)."""
    groups = sorted(dataset.meta[group_column].unique()) if group_column else [None]
    rows = [(c, g) for c in range(len(dataset.class_names)) for g in groups]
    rng = np.random.default_rng(seed)
    fig = PNGFigure(figsize=(1.8 * per_row, 1.9 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), per_row, squeeze=False))
    for row, (label, group) in zip(axes, rows):
        mask = dataset.labels == label
        if group is not None:
            mask &= (dataset.meta[group_column] == group).to_numpy()
        for ax in row:
            ax.axis("off")
        for ax, index in zip(
            row, rng.choice(np.flatnonzero(mask), size=min(per_row, int(mask.sum())), replace=False)
        ):
            image = dataset.image(index)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        row[0].set_title(
            dataset.class_names[label] + (f" / {group}" if group else ""), loc="left", fontsize=10
        )
    return fig


def imagenet_check(
    photos: Mapping[str, np.ndarray], top5: Mapping[str, Sequence[tuple[str, float]]]
) -> Figure:
    """Each photo beside the bar chart of its ImageNet top-5 classes."""
    fig = PNGFigure(figsize=(7.5 * len(photos), 3.2), layout="constrained")
    axes = fig.subplots(1, 2 * len(photos), gridspec_kw={"width_ratios": [1, 1.3] * len(photos)})
    for (title, photo), ax_image, ax_bars in zip(photos.items(), axes[::2], axes[1::2]):
        names, probabilities = zip(*top5[title])
        ax_image.imshow(photo)
        ax_image.set_title(title)
        ax_image.axis("off")
        ax_bars.barh([n.split(",")[0] for n in names][::-1], probabilities[::-1], color="#3182bd")
        ax_bars.set(xlim=(0, 1), xlabel="probability")
    return fig


def feature_matrix(X: np.ndarray, y: np.ndarray, *, columns: int = 200) -> Figure:
    """The first ``columns`` features of up to 60 images sorted
    by class (left) and every value's histogram (right)."""
    fig = PNGFigure(figsize=(13, 3), layout="constrained")
    left, right = fig.subplots(1, 2)
    order = np.argsort(y, kind="stable")[:: max(1, len(y) // 60)]
    left.imshow(X[order, :columns], aspect="auto", cmap="magma")
    left.set(
        title=f"first {min(columns, X.shape[1])} features of training images (sorted by class)",
        xlabel="feature",
        ylabel="image",
    )
    right.hist(X.ravel(), bins=80, log=True, color="#756bb1")
    right.set(title="all feature values", xlabel="activation", ylabel="count (log)")
    return fig


def embedding_grid(
    embeddings: Mapping[str, np.ndarray], colourings: Mapping[str, np.ndarray]
) -> Figure:
    """One scatter per (colouring, embedding): e.g. PCA
    and t-SNE, coloured by label and by module type."""
    fig = PNGFigure(figsize=(6 * len(embeddings), 5 * len(colourings)), layout="constrained")
    axes = fig.subplots(len(colourings), len(embeddings), squeeze=False)
    for row, (colour_name, values) in zip(axes, colourings.items()):
        for ax, (method, points) in zip(row, embeddings.items()):
            for value in np.unique(values):
                chosen = values == value
                ax.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, label=str(value))
            ax.set_title(f"{method}, coloured by {colour_name}")
            ax.legend(markerscale=3, fontsize="small")
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def augmentation_views(image: np.ndarray, jitter: float, *, title: str = "") -> Figure:
    """An image in its 8 dihedral views (flips and 90-degree
    rotations), each but the first with one jitter draw."""
    from helpers.data.images import to_rgb
    from helpers.models.augment import brightness_contrast, dihedral_view

    batch = to_rgb(np.asarray(image))[np.newaxis].astype(np.float32)
    fig = PNGFigure(figsize=(16, 2.4), layout="constrained")
    for view, ax in enumerate(fig.subplots(1, 8)):
        shown = dihedral_view(batch, view)
        shown = brightness_contrast(shown, jitter, jitter) if view else shown
        ax.imshow(np.asarray(shown)[0].astype(np.uint8))
        ax.set_title("original" if view == 0 else f"view {view}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    return fig


def cam_rows(
    images: np.ndarray, rows: Mapping[str, np.ndarray], titles: Sequence[str], *, alpha: float = 0.5
) -> Figure:
    """One column per image: the image, then one overlay
    row per named set of maps (e.g. CAM, Grad-CAM)."""
    from helpers.explain.heatmaps import normalize_maps, overlay

    n = len(images)
    fig = PNGFigure(figsize=(2.4 * n, 2.5 * (len(rows) + 1)), layout="constrained")
    axes = fig.subplots(len(rows) + 1, n, squeeze=False)
    for j in range(n):
        axes[0, j].imshow(np.clip(images[j], 0, 255).astype(np.uint8))
        axes[0, j].set_title(titles[j], fontsize=8)
        for i, maps in enumerate(rows.values(), start=1):
            axes[i, j].imshow(overlay(images[j], normalize_maps(maps[j : j + 1])[0], alpha=alpha))
    for i, name in enumerate(["image", *rows]):
        axes[i, 0].set_ylabel(name)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def outcome_gallery(
    images: np.ndarray,
    maps: np.ndarray,
    outcomes: Mapping[str, np.ndarray],
    titles: Sequence[str],
    *,
    per_row: int = 4,
) -> Figure:
    """One row per outcome (e.g. true positives): its
    first ``per_row`` images with their CAM overlaid."""
    from helpers.explain.heatmaps import normalize_maps, overlay

    fig = PNGFigure(figsize=(2.4 * per_row, 2.6 * len(outcomes)), layout="constrained")
    axes = fig.subplots(len(outcomes), per_row, squeeze=False)
    for row, (name, chosen) in zip(axes, outcomes.items()):
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax, i in zip(row, chosen[:per_row]):
            ax.imshow(overlay(images[i], normalize_maps(maps[i : i + 1])[0], alpha=0.45))
            ax.set_title(titles[i], fontsize=8)
        row[0].set_ylabel(f"{name}\n({len(chosen)})")
    return fig


def mosaic_examples(
    images: np.ndarray,
    grid: tuple[int, int],
    targets: np.ndarray,
    titles: Sequence[str],
    maps: np.ndarray | None = None,
    columns: int = 4,
) -> Figure:
    """Mosaics, ``columns`` to a row, with their tiles outlined and the target tile in green;
    with ``maps``, the map overlaid and its peak marked."""
    from helpers.data.mosaics import outline_tiles
    from helpers.explain.heatmaps import normalize_maps, overlay, upsample_maps

    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    fig = PNGFigure(figsize=(2.9 * columns, 3.2 * rows), layout="constrained")
    axes = np.ravel(fig.subplots(rows, columns, squeeze=False))
    for ax in axes[len(images) :]:
        ax.axis("off")
    for k, ax in enumerate(axes[: len(images)]):
        picture = (
            images[k]
            if maps is None
            else overlay(images[k], normalize_maps(maps[k : k + 1])[0], alpha=0.4)
        )
        ax.imshow(outline_tiles(picture, grid, int(targets[k])))
        if maps is not None:
            peak = upsample_maps(maps[k : k + 1], images.shape[1])[0]
            y, x = np.unravel_index(peak.argmax(), peak.shape)
            ax.plot(x, y, "w+", ms=14, mew=2)
        ax.set_title(titles[k], fontsize=9)
        ax.axis("off")
    return fig


def tile_scores(panels: Mapping[str, np.ndarray], grid: tuple[int, int], *, title: str) -> Figure:
    """A score per tile (e.g. the pointing game by target position) as small annotated heat maps,
    one panel per entry of ``panels`` ({panel title: one score per tile})."""
    fig = PNGFigure(figsize=(3.4 * len(panels), 3.3), layout="constrained")
    for ax, (name, scores) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        ax.imshow(np.asarray(scores, float).reshape(grid), vmin=0, vmax=1, cmap="viridis")
        for t, value in enumerate(np.ravel(scores)):
            ax.text(
                t % grid[1],
                t // grid[1],
                "n/a" if np.isnan(value) else f"{value:.2f}",
                ha="center",
                va="center",
                color="w",
            )
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return fig


def series_examples(ds, *, title: str = "") -> Figure:
    """One standardized training series per class, every channel drawn."""
    fig = PNGFigure(figsize=(3.2 * ds.n_classes, 2.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, ds.n_classes, sharey=True))
    for label, ax in enumerate(axes):
        i = int(np.flatnonzero(ds.y_train == label)[0])
        ax.plot(ds.X_train[i, : ds.lengths_train[i]], lw=0.9)
        ax.set(title=ds.class_names[label], xlabel="step")
    if ds.n_channels <= 12:
        axes[0].legend(ds.channel_names, fontsize="x-small", ncol=2)
    fig.suptitle(title or f"{ds.name}: one standardized training series per class")
    return fig


def heat_strips(
    series: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    titles: Sequence[str],
    windows: Sequence | None = None,
    *,
    title: str = "",
) -> Figure:
    """Each series drawn over its 1-D map as a heat strip
    (bright: evidence); dashed boxes mark known windows."""
    fig = PNGFigure(figsize=(10, 1.6 * len(series) + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(series), 1, squeeze=False)[:, 0])
    for k, (ax, values, cam) in enumerate(zip(axes, series, maps)):
        values = np.asarray(values)
        low, high = float(values.min()), float(values.max())
        ax.imshow(
            np.asarray(cam)[None, : len(values)],
            aspect="auto",
            cmap="magma",
            alpha=0.55,
            extent=(-0.5, len(values) - 0.5, low, high),
        )
        ax.plot(values, lw=0.8)
        if windows is not None and windows[k] is not None and windows[k][0] >= 0:
            ax.axvspan(
                windows[k][0] - 0.5, windows[k][1] - 0.5, fill=False, ec="cyan", lw=1.5, ls="--"
            )
        ax.set_title(titles[k], fontsize="small")
        ax.set_xlim(-0.5, len(values) - 0.5)
    fig.suptitle(title)
    return fig


def channel_heatmaps(
    tables: Mapping[str, object], *, title: str = "mean drop of p(predicted class)"
) -> Figure:
    """One heat map per data set: rows = predicted class, columns = occluded channel."""
    fig = PNGFigure(figsize=(6 * len(tables), 3.4), layout="constrained")
    for ax, (name, frame) in zip(
        np.atleast_1d(fig.subplots(1, len(tables), squeeze=False)[0]), tables.items()
    ):
        image = ax.imshow(frame.values, cmap="viridis", aspect="auto")
        ax.set_xticks(range(frame.shape[1]), frame.columns, rotation=60, fontsize="small")
        ax.set_yticks(range(frame.shape[0]), frame.index, fontsize="small")
        ax.set_title(f"{name}: {title}")
        fig.colorbar(image, ax=ax)
    return fig


def grouped_bars(
    summary, value: str, *, error: str | None = None, ylabel: str = "", log: bool = False
) -> Figure:
    """One group of bars per data set (first index level), one bar per model (second level)."""
    datasets = list(dict.fromkeys(summary.index.get_level_values(0)))
    models = list(dict.fromkeys(summary.index.get_level_values(1)))
    width = 0.8 / len(models)
    fig = PNGFigure(figsize=(max(6, 2.2 * len(datasets) + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    for k, model in enumerate(models):
        part = summary.xs(model, level=1).reindex(datasets)
        ax.bar(
            np.arange(len(datasets)) + k * width,
            part[value],
            width,
            yerr=None if error is None else part[error],
            capsize=3,
            label=model,
        )
    ax.set_xticks(np.arange(len(datasets)) + 0.4 - width / 2, datasets)
    ax.set(ylabel=ylabel, yscale="log" if log else "linear")
    ax.legend(fontsize="small")
    return fig


def stamped_examples(dataset: ImageDataset, stamped: np.ndarray, target: int, n: int = 3) -> Figure:
    """``n`` stamped images of the target class, then ``n`` clean ones."""
    chosen = np.r_[
        np.flatnonzero(stamped & (dataset.labels == target))[:n], np.flatnonzero(~stamped)[:n]
    ]
    titles = [
        f"{dataset.class_names[dataset.labels[i]]}, {'stamped' if stamped[i] else 'clean'}"
        for i in chosen
    ]
    from helpers.report.plots import plot_image_gallery

    return plot_image_gallery(
        [dataset.image(i) for i in chosen], titles, ncols=len(chosen), size=2.4
    )


def cams_with_boxes(
    kernels: Mapping[str, np.ndarray],
    dataset: ImageDataset,
    maps: np.ndarray,
    indices: np.ndarray,
    target: int,
    *,
    title: str = "",
) -> Figure:
    """One row per model (name -> classifier kernel): the images ``indices`` of a stamped data set
    with that model's CAM of the target class against the others (from the data set's feature
    ``maps``), the stamp boxed."""
    from matplotlib.patches import Rectangle

    from helpers.data.artifacts import artifact_boxes
    from helpers.explain.cam import contrast_cams
    from helpers.explain.heatmaps import overlay, upsample_maps

    images, maps, boxes = dataset.images[indices], maps[indices], artifact_boxes(dataset)[indices]

    fig = PNGFigure(figsize=(2.2 * len(images), 2.4 * len(kernels) + 0.4), layout="constrained")
    axes = fig.subplots(len(kernels), len(images), squeeze=False)
    for r, (name, kernel) in enumerate(kernels.items()):
        cams = upsample_maps(contrast_cams(maps, kernel, target), images.shape[1])
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(overlay(image, cams[c], alpha=0.45))
            x0, y0, x1, y1 = boxes[c]
            ax.add_patch(
                Rectangle(
                    (x0, y0),
                    x1 - x0,
                    y1 - y0,
                    fill=False,
                    edgecolor="white",
                    linewidth=1,
                    linestyle="--",
                )
            )
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(title)
    return fig


def peak_counts(detection, grid: int) -> Figure:
    """Where CAM peaks land, for the images the detector did not and did flag."""
    fig = PNGFigure(figsize=(9, 3.6), layout="constrained")
    for ax, selection, name in zip(
        fig.subplots(1, 2), (~detection.flagged, detection.flagged), ("not flagged", "flagged")
    ):
        counts = np.zeros((grid, grid), int)
        np.add.at(counts, (detection.peaks[selection, 0], detection.peaks[selection, 1]), 1)
        fig.colorbar(ax.imshow(counts, cmap="viridis"), ax=ax)
        ax.set_title(f"where CAM peaks land: {name}", fontsize=10)
    return fig


def review_gallery(
    images: np.ndarray,
    cams: np.ndarray,
    detection,
    clusters: Sequence[int],
    grid: int,
    per_row: int = 8,
) -> Figure:
    """For each cluster to review, a few of its images with
    their CAM, cropped around the peak (what a person checks)."""
    from helpers.explain.heatmaps import overlay, upsample_maps

    size, side = images.shape[1], images.shape[1] // 2
    fig = PNGFigure(figsize=(2 * per_row, 2.2 * len(clusters)), layout="constrained")
    axes = fig.subplots(len(clusters), per_row, squeeze=False)
    for row, cluster in zip(axes, clusters):
        members = np.flatnonzero(detection.clusters == cluster)[:per_row]
        for ax in row:
            ax.axis("off")
        for ax, i, cam in zip(row, members, upsample_maps(cams[members], size)):
            cy, cx = ((detection.peaks[i] + 0.5) * size / grid).astype(int)
            y0, x0 = np.clip([cy - side // 2, cx - side // 2], 0, size - side)
            ax.imshow(overlay(images[i], cam, alpha=0.4)[y0 : y0 + side, x0 : x0 + side])
        row[0].set_title(f"cluster {cluster}", fontsize=9, loc="left")
    return fig
