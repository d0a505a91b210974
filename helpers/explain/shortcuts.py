"""Shortcuts found from CAMs alone: spurious regions a model
leans on, their removal, and labels worth a second look.

Everything here works on a frozen backbone's feature maps and the CAMs of a head on them
(``helpers.explain.cam.contrast_cams``), so no location or label of the shortcut is needed:

- ``detect_spurious_regions``: CAM peaks that repeat one pattern and dominate the decision, with the
  flagged region per image;
- ``remove_regions``: mask (mean fill) or inpaint (OpenCV) flagged regions;
- ``out_of_fold_probabilities`` and ``suspicious_labels``: confident out-of-fold disagreement backed
  by CAM evidence, to rank labels worth a second look.

The "right for the right reasons" penalty itself is written in notebook 06.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from sklearn.model_selection import StratifiedKFold


@dataclass
class Detection:
    """The result of ``detect_spurious_regions``.

    ``peaks``: each image's CAM peak cell (row, col); ``clusters``: the
    appearance cluster of each image's peak; ``cluster_strength``: per
    cluster, the median peak evidence over the median of all images;
    ``suspicious_clusters``; ``flagged`` images and their ``masks``
    (N, size, size) at ``mask_size`` resolution.
    """

    peaks: np.ndarray
    clusters: np.ndarray
    cluster_strength: np.ndarray
    suspicious_clusters: np.ndarray
    flagged: np.ndarray
    masks: np.ndarray

    def peak_counts(self, grid: tuple[int, int]) -> np.ndarray:
        """How many images peak in each cell of the CAM grid."""
        counts = np.zeros(grid, dtype=int)
        np.add.at(counts, (self.peaks[:, 0], self.peaks[:, 1]), 1)
        return counts


def detect_spurious_regions(
    maps: np.ndarray,
    cams: np.ndarray,
    *,
    n_clusters: int = 8,
    min_strength: float = 4.0,
    min_share: float = 0.02,
    region_threshold: float = 0.5,
    mask_size: int = 56,
    dilate: int = 2,
    random_state: int = 0,
) -> Detection:
    """Find evidence that is one repeated pattern and
    far stronger than anything else, from CAMs alone.

    Each image contributes the feature vector at its CAM peak (what the model
    looks at most). These vectors are clustered by appearance (k-means on
    unit vectors). Real evidence (defects) varies and is moderate; a
    shortcut repeats the same pattern and dominates the decision, so a
    cluster holding at least ``min_share`` of the images whose median peak
    evidence exceeds ``min_strength`` times the median over all images is
    suspicious. Its images are flagged; each one's region is the connected
    part of its CAM (upsampled to ``mask_size``) above ``region_threshold``
    of the peak, around the peak, grown by ``dilate`` pixels. No location
    or label is used: a person reviews the clusters' galleries.
    """
    from sklearn.cluster import KMeans

    n, h, w = cams.shape
    flat_peak = cams.reshape(n, -1).argmax(axis=1)
    peaks = np.stack(divmod(flat_peak, w), axis=1)
    vectors = maps.reshape(n, h * w, -1)[np.arange(n), flat_peak].astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-8
    k = min(n_clusters, n)
    clusters = KMeans(k, n_init=4, random_state=random_state).fit_predict(vectors)
    strength = cams.reshape(n, -1).max(axis=1)
    reference = max(float(np.median(strength)), 1e-8)
    cluster_strength = np.array(
        [
            np.median(strength[clusters == c]) / reference if np.any(clusters == c) else 0.0
            for c in range(k)
        ]
    )
    shares = np.bincount(clusters, minlength=k) / n
    suspicious = np.flatnonzero((cluster_strength > min_strength) & (shares >= min_share))
    flagged = np.isin(clusters, suspicious)
    masks = np.zeros((n, mask_size, mask_size), dtype=np.float32)
    kernel = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
    for i in np.flatnonzero(flagged):
        cam = cv2.resize(
            cams[i].astype(np.float32), (mask_size, mask_size), interpolation=cv2.INTER_LINEAR
        )
        strong = (cam >= region_threshold * cam.max()).astype(np.uint8)
        _, components = cv2.connectedComponents(strong, connectivity=8)
        py, px = np.unravel_index(int(cam.argmax()), cam.shape)
        region = (components == components[py, px]).astype(np.uint8)
        masks[i] = cv2.dilate(region, kernel) if dilate > 0 else region
    return Detection(peaks, clusters, cluster_strength, suspicious, flagged, masks)


def precision_recall(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Precision and recall of boolean flags against
    the truth (NaN precision when nothing is flagged)."""
    flagged, truth = np.asarray(flagged, bool), np.asarray(truth, bool)
    hits = float((flagged & truth).sum())
    precision = hits / flagged.sum() if flagged.any() else float("nan")
    recall = hits / truth.sum() if truth.any() else float("nan")
    return precision, recall


def remove_regions(
    images: np.ndarray, masks: np.ndarray, method: str = "inpaint", radius: int = 5
) -> np.ndarray:
    """Copies of uint8 ``images`` with the regions where ``masks`` > 0.5 removed.

    ``masks`` may be at a coarser grid (e.g. CAM cells): they are resized to
    the images with nearest-neighbour. ``method="inpaint"`` fills from the
    surroundings (OpenCV Telea); ``"mean"`` fills with the image's mean.
    """
    if method not in ("inpaint", "mean"):
        raise ValueError(f"method must be 'inpaint' or 'mean', not {method!r}")
    out = images.copy()
    side = images.shape[1]
    for i, mask in enumerate(masks):
        if mask.max() <= 0.5:
            continue
        full = cv2.resize(
            (mask > 0.5).astype(np.uint8), (images.shape[2], side), interpolation=cv2.INTER_NEAREST
        )
        if method == "inpaint":
            out[i] = cv2.inpaint(images[i], full, radius, cv2.INPAINT_TELEA)
        else:
            out[i][full.astype(bool)] = np.uint8(images[i].mean())
    return out


def out_of_fold_probabilities(
    fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """(N, K) probabilities of each sample from a model that never saw it:
    ``fit_predict(X_fit, y_fit, X_held)`` is called once per stratified fold and returns the
    held-out samples' class probabilities."""
    labels = np.asarray(labels)
    out = None
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        np.zeros(len(labels)), labels
    ):
        proba = np.asarray(fit_predict(X[fit], labels[fit], X[held]))
        out = np.zeros((len(labels), proba.shape[1]), dtype=np.float32) if out is None else out
        out[held] = proba
    return out


def suspicious_labels(
    probabilities: np.ndarray,
    labels: np.ndarray,
    cam_peak_ratio: np.ndarray,
    candidates: np.ndarray,
    *,
    min_confidence: float = 0.8,
    min_peak_ratio: float | None = None,
    target_class: int = 1,
) -> np.ndarray:
    """Candidates whose label a model confidently disputes, backed by CAM evidence.

    An image is suspicious when it is a ``candidate`` (e.g. ELPV's uncertain cells), the out-of-fold
    model gives another class at least ``min_confidence``, and, when the model says ``target_class``
    (ELPV: defective), the target's CAM is concentrated (peak / mean >= ``min_peak_ratio``: a
    localized defect, not diffuse texture).
    """
    labels = np.asarray(labels)
    predicted = probabilities.argmax(axis=1)
    disputed = (
        (predicted != labels)
        & (probabilities.max(axis=1) >= min_confidence)
        & np.asarray(candidates, bool)
    )
    if min_peak_ratio is not None:
        disputed &= (predicted != target_class) | (cam_peak_ratio >= min_peak_ratio)
    return disputed


def shortcut_scores(
    heads,
    test_maps: dict[str, np.ndarray],
    labels: np.ndarray,
    stamp_masks: np.ndarray,
    target_class: int,
) -> dict[str, float]:
    """Accuracy on each test set (name -> feature maps) and the share of CAM energy on the stamp,
    averaged over ``heads`` (one head, or several trained with different seeds);
    ``decorrelated spread`` is the range (max - min) of the decorrelated accuracy across them.

    The CAM is the target class's evidence against the others (``contrast_cams``) on the
    ``decorrelated`` test set, where every image carries the stamp; ``stamp_masks`` are its boxes at
    any resolution.
    """
    from helpers.explain.cam import contrast_cams
    from helpers.explain.heatmaps import cam_energy_share
    from helpers.models.gap import predict_in_batches

    per_head = []
    for head in heads if isinstance(heads, list | tuple) else [heads]:
        scores = {
            f"{name} accuracy": float((predict_in_batches(head, maps).argmax(1) == labels).mean())
            for name, maps in test_maps.items()
        }
        cams = contrast_cams(
            test_maps["decorrelated"], head.get_layer("classifier").kernel.numpy(), target_class
        )
        scores["CAM energy on stamp"] = float(np.nanmean(cam_energy_share(cams, stamp_masks)))
        scores["CAM energy on stamp (raw)"] = float(
            np.nanmean(cam_energy_share(cams, stamp_masks, normalize=False))
        )
        per_head.append(scores)
    decorrelated = [scores["decorrelated accuracy"] for scores in per_head]
    return {key: float(np.mean([scores[key] for scores in per_head])) for key in per_head[0]} | {
        "decorrelated spread": float(max(decorrelated) - min(decorrelated))
    }
