"""Use class activation maps to find what a model should not look at, remove it, or train it away.

Everything here works on a frozen backbone's feature maps (computed once per
version of the training images by ``feature_maps``) and a small GAP head on
top of them (``CamHead``: ``gap`` -> ``dropout`` -> ``classifier``), so the
class activation maps are exact and cheap: ``cams_from_maps``.

- ``cam_energy_share``: how much of a class's positive CAM lies inside a region.
- ``detect_spurious_regions``: from CAMs over a training set alone, find the
  grid cells where CAM peaks pile up far beyond chance and flag the images
  whose evidence sits there, with the flagged region per image.
- ``remove_regions``: mask (mean fill) or inpaint (OpenCV) flagged regions.
- ``CamHead(guided_weight=...)``: "right for the right reasons" (Ross et al.
  2017) with CAMs: the training loss adds ``guided_weight`` times the mean
  squared CAM inside each image's flagged mask.
- ``suspicious_labels``: out-of-fold confidence plus CAM evidence to rank
  labels worth a second look.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import StratifiedKFold

from helpers.backbones import build_backbone
from helpers.datasets import ImageDataset
from helpers.cam import upsample_maps
from helpers.models import build_gap_classifier
from helpers.training import cache_feature_maps


def feature_maps(
    dataset: ImageDataset,
    indices: np.ndarray | None = None,
    *,
    backbone: str | keras.Model = "mobilenet_v2",
    image_size: int = 224,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """(N, h, w, C) float16 last feature maps of a frozen backbone (``h = image_size / 32`` for MobileNetV2).

    ``backbone`` is a name for ``build_backbone`` or an already built feature-map model (reuse it across calls).
    """
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    model = build_backbone(backbone, image_size, pooling=None) if isinstance(backbone, str) else backbone
    return cache_feature_maps(model, dataset, indices, image_size, batch_size=batch_size, progress=progress)[0]


@keras.saving.register_keras_serializable(package="helpers")
class CamHead(keras.Model):
    """GAP -> dropout -> dense softmax on feature maps, optionally guided away from masked regions.

    Inputs: feature maps (N, h, w, C), or ``{"maps": ..., "mask": (N, h, w)}``
    when ``guided_weight`` > 0. The loss is cross-entropy plus
    ``guided_weight`` * mean over masked cells of the squared class-centred
    CAMs (CAM = feature maps @ classifier kernel, minus its mean over the
    classes), which pushes the classifier to draw no evidence for one class
    over another from the masked regions.
    """

    def __init__(self, n_classes: int, dropout: float = 0.2, guided_weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_classes, self.dropout_rate, self.guided_weight = n_classes, dropout, guided_weight
        self.gap = keras.layers.GlobalAveragePooling2D(name="gap")
        self.dropout = keras.layers.Dropout(dropout, name="dropout")
        self.classifier = keras.layers.Dense(n_classes, activation="softmax", name="classifier", dtype="float32")
        self.penalty_tracker = keras.metrics.Mean(name="cam_penalty")

    def call(self, inputs, training=False):
        maps = inputs["maps"] if isinstance(inputs, dict) else inputs
        return self.classifier(self.dropout(self.gap(keras.ops.cast(maps, "float32")), training=training))

    def cam_penalty(self, maps, mask):
        """Mean over the masked cells of a batch of the squared CAMs, centred across classes (what moves the
        decision); 0 when nothing is masked."""
        cams = keras.ops.einsum("nhwc,ck->nhwk", keras.ops.cast(maps, "float32"), self.classifier.kernel)
        cams = cams - keras.ops.mean(cams, axis=-1, keepdims=True)  # only what separates the classes
        mask = keras.ops.cast(mask, "float32")[..., None]
        inside = keras.ops.sum(mask * keras.ops.square(cams))
        return inside / (keras.ops.sum(mask) * self.n_classes + 1e-6)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if self.guided_weight > 0 and isinstance(x, dict) and "mask" in x:
            penalty = self.cam_penalty(x["maps"], x["mask"])
            self.penalty_tracker.update_state(penalty)
            loss = loss + self.guided_weight * penalty
        return loss

    @property
    def metrics(self):
        return [*super().metrics, self.penalty_tracker]

    def get_config(self) -> dict:
        return {"n_classes": self.n_classes, "dropout": self.dropout_rate, "guided_weight": self.guided_weight, "name": self.name}


def train_head(
    maps: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int = 2,
    masks: np.ndarray | None = None,
    guided_weight: float = 0.0,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    dropout: float = 0.2,
    class_weight: dict[int, float] | str | None = "balanced",
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
) -> tuple[CamHead, keras.callbacks.History]:
    """Fit a ``CamHead`` on precomputed feature maps (the head stage of the GAP recipe, backbone frozen).

    ``masks`` (N, h, w) and ``guided_weight`` > 0 give the guided loss.
    ``class_weight="balanced"`` weighs classes by inverse frequency.
    """
    keras.utils.set_random_seed(seed)
    labels = np.asarray(labels)
    if class_weight == "balanced":
        counts = np.bincount(labels, minlength=n_classes)
        class_weight = {c: len(labels) / (n_classes * max(n, 1)) for c, n in enumerate(counts)}
    guided = guided_weight > 0
    if guided and masks is None:
        raise ValueError("guided training needs the flagged masks")
    head = CamHead(n_classes, dropout=dropout, guided_weight=guided_weight)
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = {"maps": maps, "mask": masks.astype(np.float32)} if guided else maps
    validation_data = None
    if validation is not None:
        val_maps, val_labels = validation
        val_x = {"maps": val_maps, "mask": np.zeros(val_maps.shape[:3], np.float32)} if guided else val_maps
        validation_data = (val_x, np.asarray(val_labels))
    history = head.fit(
        x, labels, epochs=epochs, batch_size=batch_size, class_weight=class_weight,
        validation_data=validation_data, shuffle=True, verbose=0,
    )
    return head, history


def predict_head(head: CamHead, maps: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, K) of a head on feature maps."""
    return np.asarray(head.predict(maps, batch_size=batch_size, verbose=0))


def cams_from_maps(maps: np.ndarray, kernel: np.ndarray, class_index: int | np.ndarray) -> np.ndarray:
    """(N, h, w) class activation maps: feature maps times the classifier's kernel column(s).

    ``class_index`` is one class for all images or one per image.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    class_index = np.broadcast_to(np.asarray(class_index), (len(maps),))
    out = np.empty(maps.shape[:3], dtype=np.float32)
    for start in range(0, len(maps), 256):
        block = maps[start : start + 256].astype(np.float32)
        out[start : start + 256] = np.einsum("nhwc,cn->nhw", block, kernel[:, class_index[start : start + 256]])
    return out


def cam_energy_share(cams: np.ndarray, masks: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Per image: the share of the CAM's mass inside ``masks`` ((N, h, w) each; CAMs are upsampled to the masks).

    ``normalize=True`` min-max scales each map to [0, 1] first, as the
    energy-based pointing game of Score-CAM (Wang et al. 2020) does, so a
    diffuse offset over the whole image does not count; ``False`` takes the
    positive part of the raw map (as ``helpers.mosaics.energy_in_target``).
    Images whose mask is empty or whose map has no mass give NaN.
    """
    if cams.shape[1:] != masks.shape[1:]:
        cams = upsample_maps(cams, masks.shape[1])
    if normalize:
        low = cams.min(axis=(1, 2), keepdims=True)
        span = cams.max(axis=(1, 2), keepdims=True) - low
        positive = (cams - low) / np.where(span > 0, span, 1)
    else:
        positive = np.clip(cams, 0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    valid = (total > 0) & (masks.sum(axis=(1, 2)) > 0)
    return np.where(valid, inside / np.where(total > 0, total, 1), np.nan)


def contrast_cams(maps: np.ndarray, kernel: np.ndarray, class_index: int | np.ndarray) -> np.ndarray:
    """CAMs of evidence *for* a class against the others: its CAM minus the mean CAM of the other classes.

    For two classes this is the map whose average is the logit difference, so
    its peak is where the decision is made.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    n_classes = kernel.shape[1]
    contrast = kernel * (n_classes / (n_classes - 1)) - kernel.mean(axis=1, keepdims=True) * (n_classes / (n_classes - 1))
    return cams_from_maps(maps, contrast, class_index)


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
    """Find evidence that is one repeated pattern and far stronger than anything else, from CAMs alone.

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
    cluster_strength = np.array([np.median(strength[clusters == c]) / reference if np.any(clusters == c) else 0.0 for c in range(k)])
    shares = np.bincount(clusters, minlength=k) / n
    suspicious = np.flatnonzero((cluster_strength > min_strength) & (shares >= min_share))
    flagged = np.isin(clusters, suspicious)
    masks = np.zeros((n, mask_size, mask_size), dtype=np.float32)
    kernel = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
    for i in np.flatnonzero(flagged):
        cam = cv2.resize(cams[i].astype(np.float32), (mask_size, mask_size), interpolation=cv2.INTER_LINEAR)
        strong = (cam >= region_threshold * cam.max()).astype(np.uint8)
        _, components = cv2.connectedComponents(strong, connectivity=8)
        py, px = np.unravel_index(int(cam.argmax()), cam.shape)
        region = (components == components[py, px]).astype(np.uint8)
        masks[i] = cv2.dilate(region, kernel) if dilate > 0 else region
    return Detection(peaks, clusters, cluster_strength, suspicious, flagged, masks)


def precision_recall(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Precision and recall of boolean flags against the truth (NaN precision when nothing is flagged)."""
    flagged, truth = np.asarray(flagged, bool), np.asarray(truth, bool)
    hits = float((flagged & truth).sum())
    precision = hits / flagged.sum() if flagged.any() else float("nan")
    recall = hits / truth.sum() if truth.any() else float("nan")
    return precision, recall


def remove_regions(images: np.ndarray, masks: np.ndarray, method: str = "inpaint", radius: int = 5) -> np.ndarray:
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
        full = cv2.resize((mask > 0.5).astype(np.uint8), (images.shape[2], side), interpolation=cv2.INTER_NEAREST)
        if method == "inpaint":
            out[i] = cv2.inpaint(images[i], full, radius, cv2.INPAINT_TELEA)
        else:
            out[i][full.astype(bool)] = np.uint8(images[i].mean())
    return out


def out_of_fold_probabilities(maps: np.ndarray, labels: np.ndarray, *, folds: int = 5, seed: int = 0, **train) -> np.ndarray:
    """(N, K) probabilities of each training image from a head that never saw it (``folds``-fold)."""
    labels = np.asarray(labels)
    n_classes = train.pop("n_classes", int(labels.max()) + 1)
    out = np.zeros((len(labels), n_classes), dtype=np.float32)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (fit, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        head, _ = train_head(maps[fit], labels[fit], n_classes=n_classes, seed=seed + fold, **train)
        out[held] = predict_head(head, maps[held])
    return out


def suspicious_labels(
    probabilities: np.ndarray,
    labels: np.ndarray,
    cam_peak_ratio: np.ndarray,
    candidates: np.ndarray,
    *,
    min_confidence: float = 0.8,
    min_peak_ratio: float | None = None,
) -> np.ndarray:
    """Candidates whose label a model confidently disputes, backed by CAM evidence.

    An image is suspicious when it is a ``candidate`` (e.g. ELPV's uncertain
    cells), the out-of-fold model gives the other class at least
    ``min_confidence``, and, when the model says "defective" (class 1), the
    defective CAM is concentrated (peak / mean >= ``min_peak_ratio``: a
    localized defect, not diffuse texture).
    """
    labels = np.asarray(labels)
    predicted = probabilities.argmax(axis=1)
    disputed = (predicted != labels) & (probabilities.max(axis=1) >= min_confidence) & np.asarray(candidates, bool)
    if min_peak_ratio is not None:
        disputed &= (predicted != 1) | (cam_peak_ratio >= min_peak_ratio)
    return disputed


def peak_ratio(cams: np.ndarray) -> np.ndarray:
    """Per image: the CAM's maximum over its mean absolute value (large = evidence in one place)."""
    flat = cams.reshape(len(cams), -1)
    return flat.max(axis=1) / (np.abs(flat).mean(axis=1) + 1e-8)


def to_gap_classifier(head: CamHead, image_size: int, backbone: str = "mobilenet_v2", weights: str | None = "imagenet") -> keras.Model:
    """The full image model (``helpers.models.build_gap_classifier``) with ``head``'s classifier weights,
    for ``helpers.cam`` and for saving. ``weights`` must be those the head's feature maps came from."""
    model = build_gap_classifier(head.n_classes, backbone, image_size, dropout=head.dropout_rate, weights=weights)
    model.get_layer("classifier").set_weights(head.classifier.get_weights())
    return model
