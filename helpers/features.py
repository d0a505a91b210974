"""From a data set to an (N, D) feature matrix through a frozen backbone, cached on disk.

``image_batches`` is the tf.data pipeline every notebook feeds its models
with: images (in memory or decoded from files in parallel) resized to a
square RGB batch with pixel values in [0, 255], batched and prefetched.
``featurize`` runs a backbone over it and caches the features, keyed by data
set, indices, backbone, weights, image size, layer and test-time views.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.backbones import build_backbone, weights_fingerprint
from helpers.datasets import ImageDataset, read_image
from helpers.images import to_rgb
from helpers.paths import atomic_write_bytes, cache_dir

AUTOTUNE = tf.data.AUTOTUNE


def _resize(images: tf.Tensor, image_size: int) -> tf.Tensor:
    """Bilinear resize of an image or a batch; antialiased only when shrinking more than 2x.

    Both input paths (in-memory batches and decoded files) use this one function, so
    the same pixels give the same features whichever way they come in.
    """
    height = tf.shape(images)[-3]
    return tf.cond(
        height > 2 * image_size,
        lambda: tf.image.resize(images, (image_size, image_size), antialias=True),
        lambda: tf.image.resize(images, (image_size, image_size), antialias=False),
    )


def _resize_batch(images: tf.Tensor, image_size: int) -> tf.Tensor:
    images = tf.cast(images, tf.float32)
    if images.shape.rank == 3:  # grayscale batch (N, H, W)
        images = images[..., tf.newaxis]
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    return _resize(images, image_size)


def _read_rgb(path: bytes) -> np.ndarray:
    return to_rgb(read_image(Path(path.decode())))


def image_batches(
    dataset: ImageDataset,
    indices: np.ndarray,
    image_size: int,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int = 0,
    augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    with_labels: bool = True,
    label_values: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of float32 RGB images in [0, 255], ``image_size`` square, with labels unless told not to.

    ``augment`` maps a batch of images to a batch of images (for training).
    ``label_values`` replaces ``dataset.labels`` (e.g. one-hot or relabelled targets).
    """
    indices = np.asarray(indices)
    labels = np.asarray(dataset.labels if label_values is None else label_values)[indices]
    if dataset.images is not None:
        source = tf.data.Dataset.from_tensor_slices((dataset.images[indices], labels))
        if shuffle:
            source = source.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
        batches = source.batch(batch_size).map(
            lambda images, y: (_resize_batch(images, image_size), y), num_parallel_calls=AUTOTUNE
        )
    else:
        paths = [str(dataset.paths[i]) for i in indices]
        source = tf.data.Dataset.from_tensor_slices((paths, labels))
        if shuffle:
            source = source.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)

        def decode(path, y):
            image = tf.numpy_function(_read_rgb, [path], tf.uint8)
            image.set_shape((None, None, 3))
            return _resize(tf.cast(image, tf.float32), image_size), y

        batches = source.map(decode, num_parallel_calls=AUTOTUNE).batch(batch_size)
    if augment is not None:
        batches = batches.map(lambda images, y: (augment(images), y), num_parallel_calls=AUTOTUNE)
    if not with_labels:
        batches = batches.map(lambda images, y: images)
    return batches.prefetch(AUTOTUNE)


def dihedral_view(images: tf.Tensor, view: int) -> tf.Tensor:
    """One of the 8 flips/90-degree rotations of a batch (view 0 is the identity)."""
    if view >= 4:
        images = tf.transpose(images, (0, 2, 1, 3))
    if view % 4 in (1, 3):
        images = tf.reverse(images, axis=[2])
    if view % 4 in (2, 3):
        images = tf.reverse(images, axis=[1])
    return images


@dataclass
class Features:
    """A feature matrix with its labels, the data set indices it came from and how it was made."""

    X: np.ndarray
    y: np.ndarray
    indices: np.ndarray
    from_cache: bool
    images_per_s: float | None = None


def feature_cache_key(
    dataset: ImageDataset, indices: np.ndarray, backbone: str, image_size: int, layer: str | None, tta_views: int
) -> str:
    """Readable cache file stem: data set, backbone, weights, size, layer, views, plus a hash of the rest."""
    digest = hashlib.sha256(dataset.fingerprint.encode())
    digest.update(np.asarray(indices, dtype=np.int64).tobytes())
    parts = [dataset.name, backbone, weights_fingerprint(backbone), f"{image_size}px", layer or "last", f"tta{tta_views}"]
    return "-".join(parts) + f"-n{len(indices)}-{digest.hexdigest()[:12]}"


def featurize(
    dataset: ImageDataset,
    indices: np.ndarray,
    *,
    backbone: str = "mobilenet_v2",
    image_size: int = 224,
    layer: str | None = None,
    tta_views: int = 1,
    batch_size: int = 64,
    cache: bool = True,
    progress: bool = True,
) -> Features:
    """Global-average-pooled backbone features of ``dataset[indices]``, from the cache when present.

    ``tta_views`` > 1 averages the features over that many flips/rotations.
    """
    if not 1 <= tta_views <= 8:
        raise ValueError(f"tta_views must be between 1 and 8, not {tta_views}")
    indices = np.asarray(indices)
    labels = dataset.labels[indices]
    path = cache_dir("features") / (feature_cache_key(dataset, indices, backbone, image_size, layer, tta_views) + ".npz")
    if cache and path.exists():
        try:
            with np.load(path) as stored:
                if np.array_equal(stored["indices"], indices):
                    return Features(stored["X"], labels, indices, from_cache=True)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed and replaced
    model = build_backbone(backbone, image_size, layer=layer)
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    batches = image_batches(dataset, indices, image_size, batch_size, with_labels=False)
    chunks = []
    start = time.perf_counter()
    with tqdm(total=len(indices), desc=f"featurize {dataset.name}", unit="img", disable=not progress) as bar:
        for images in batches:
            views = [forward(dihedral_view(images, view)) for view in range(tta_views)]
            chunks.append(np.mean([v.numpy() for v in views], axis=0))
            bar.update(int(images.shape[0]))
    seconds = time.perf_counter() - start
    X = np.concatenate(chunks).astype(np.float32)
    if cache:
        buffer = io.BytesIO()
        np.savez(buffer, X=X, indices=indices)
        atomic_write_bytes(path, buffer.getvalue())
    return Features(X, labels, indices, from_cache=False, images_per_s=len(indices) / seconds)
