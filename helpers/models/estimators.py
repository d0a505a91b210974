"""A frozen ImageNet CNN as a scikit-learn transformer: images in, feature vectors out.

``make_pipeline(CNNFeaturizer("mobilenet_v2"), LGBMClassifier())`` fits and predicts on image arrays
or image file paths. Features come from ``helpers.models.features.featurize`` (same backbones,
test-time views, runtime and on-disk cache as the notebooks), so fitting twice on the same images
costs nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from helpers.data.datasets import ImageDataset
from helpers.models.backbones import KERAS_APPLICATIONS, build_backbone
from helpers.models.features import featurize


def images_to_dataset(X) -> ImageDataset:
    """Wrap images for ``featurize``: an (N, H, W) / (N,
    H, W, 1|3) array, or a sequence of image file paths.

    An array data set is named after a hash of its full content, so the
    feature cache never confuses two arrays of the same shape.
    """
    if isinstance(X, ImageDataset):
        return X
    if isinstance(X, (pd.Series, pd.DataFrame)):
        X = X.to_numpy()
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        items = list(np.asarray(X, dtype=object).ravel())
        if items and all(isinstance(p, (str, Path)) for p in items):
            paths = [Path(p) for p in items]
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} image file(s) not found, e.g. {missing[0]}"
                )
            return ImageDataset(
                "files",
                np.zeros(len(paths), int),
                ["unknown"],
                pd.DataFrame(index=range(len(paths))),
                paths=paths,
            )
        X = np.asarray(X)
    X = np.asarray(X)
    if X.ndim == 4 and X.shape[-1] not in (1, 3):
        raise ValueError(f"image arrays need 1 or 3 channels last, got shape {X.shape}")
    if X.ndim not in (3, 4) or X.dtype.kind not in "uif":
        raise ValueError(
            "CNNFeaturizer expects images: an (N, H, W) or (N, H, W, "
            "1|3) numeric array or a list of file paths, "
            f"got an array of shape {X.shape} and dtype {X.dtype}"
        )
    if X.shape[0] == 0:
        raise ValueError("no images: got an empty array")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError("images contain NaN or infinity")
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    digest = hashlib.sha256(str((X.shape, X.dtype.str)).encode())
    digest.update(np.ascontiguousarray(X).data)
    return ImageDataset(
        f"array-{digest.hexdigest()[:16]}",
        np.zeros(len(X), int),
        ["unknown"],
        pd.DataFrame(index=range(len(X))),
        images=X,
    )


class CNNFeaturizer(TransformerMixin, BaseEstimator):
    """Global-average-pooled features of a frozen ImageNet CNN, as a scikit-learn transformer.

    Parameters ---------- backbone : a name known to ``helpers.backbones.build_backbone``
    (``"mobilenet_v2"`` works offline). image_size : images are resized to this square size (RGB,
    pixel values in [0, 255]). layer : read this intermediate layer instead of the last one (e.g.
    ``"block_13_expand_relu"``). tta_views : average the features over this many flips / 90-degree
    rotations (1 to 8). batch_size : images per forward pass. cache : keep features on disk
    (``$TL_CACHE_DIR/features``), keyed by the images' content and the settings. progress : show a
    progress bar while computing. runtime : where the frozen forward pass runs (``"auto"``,
    ``"openvino"``, ``"onnxruntime"``, ``"tensorflow"``).

    ``X`` is an (N, H, W) or (N, H, W, 1|3) array of pixel values in [0, 255],
    or a list of image file paths. The transformer learns nothing: ``fit``
    only checks the input and records the output width.
    """

    def __init__(
        self,
        backbone: str = "mobilenet_v2",
        image_size: int = 224,
        layer: str | None = None,
        tta_views: int = 1,
        batch_size: int = 64,
        cache: bool = True,
        progress: bool = False,
        runtime: str = "auto",
    ):
        self.backbone = backbone
        self.image_size = image_size
        self.layer = layer
        self.tta_views = tta_views
        self.batch_size = batch_size
        self.cache = cache
        self.progress = progress
        self.runtime = runtime

    def _check_params(self) -> None:
        if self.backbone not in KERAS_APPLICATIONS:
            raise ValueError(
                f"unknown backbone {self.backbone!r}: choose one of {sorted(KERAS_APPLICATIONS)}"
            )
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 32:
            raise ValueError(f"image_size must be an integer >= 32, not {self.image_size!r}")
        if not isinstance(self.tta_views, (int, np.integer)) or not 1 <= self.tta_views <= 8:
            raise ValueError(
                f"tta_views must be an integer between 1 and 8, not {self.tta_views!r}"
            )
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {self.batch_size!r}")

    def _features(self, X) -> np.ndarray:
        dataset = images_to_dataset(X)
        return featurize(
            dataset,
            np.arange(len(dataset)),
            backbone=self.backbone,
            image_size=int(self.image_size),
            layer=self.layer,
            tta_views=int(self.tta_views),
            batch_size=int(self.batch_size),
            cache=self.cache,
            progress=self.progress,
            runtime=self.runtime,
        ).X

    def fit(self, X, y=None):
        """Check the images and the settings; record the number of output features."""
        self._check_params()
        images_to_dataset(X)
        model = build_backbone(self.backbone, int(self.image_size), layer=self.layer)
        self.n_features_out_ = int(model.output_shape[-1])
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Features of ``X`` (computed once, then recorded as the output width)."""
        self._check_params()
        features = self._features(X)
        self.n_features_out_ = int(features.shape[1])
        return features

    def transform(self, X) -> np.ndarray:
        """(N, D) float32 features of the images ``X``."""
        check_is_fitted(self, "n_features_out_")
        features = self._features(X)
        if features.shape[1] != self.n_features_out_:
            raise ValueError(f"got {features.shape[1]} features, fitted for {self.n_features_out_}")
        return features

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``<backbone>_<layer or "gap">_<i>`` for each output feature."""
        check_is_fitted(self, "n_features_out_")
        prefix = f"{self.backbone}_{self.layer or 'gap'}"
        return np.asarray([f"{prefix}_{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True  # file paths
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = []
        return tags
