"""From images to what a frozen network computes on them: the input pipeline, the frozen forward pass, its caches.

The one frozen forward pass runs any number of augmented views on the fastest runtime. ``image_batches`` feeds every model of the series: images (in memory or decoded from files in parallel)
resized to a square RGB batch with pixel values in [0, 255]. ``frozen_outputs`` runs a ``FrozenNetwork``
over it in dihedral views (optionally jittered), cached on disk when the network has a key; ``featurize``
is its pooled-feature form for notebooks 01-02 and the scikit-learn transformer.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.data.datasets import ImageDataset
from helpers.data.images import read_image, to_rgb
from helpers.models.augment import brightness_contrast, dihedral_view
from helpers.models.backbones import build_backbone, weights_fingerprint
from helpers.models.runtime import FrozenNetwork
from helpers.paths import cache_dir, cached_arrays

AUTOTUNE = tf.data.AUTOTUNE


def _resize(images: tf.Tensor, image_size: int) -> tf.Tensor:
    """Bilinear resize of an image or a batch; antialiased only when shrinking more than 2x (one function for
    both input paths, so the same pixels give the same features whichever way they come in)."""
    height = tf.shape(images)[-3]
    return tf.cond(
        height > 2 * image_size,
        lambda: tf.image.resize(images, (image_size, image_size), antialias=True),
        lambda: tf.image.resize(images, (image_size, image_size), antialias=False),
    )


def resize_batch(images: tf.Tensor | np.ndarray, image_size: int) -> tf.Tensor:
    """A batch of in-memory images (N, H, W) or (N, H, W, 1 or 3) as float32 RGB, ``image_size`` square."""
    images = tf.cast(images, tf.float32)
    if images.shape.rank == 3:  # grayscale batch (N, H, W)
        images = images[..., tf.newaxis]
    images = _resize(images, image_size)  # before copying grayscale to 3 channels: a third of the work, same pixels
    return tf.image.grayscale_to_rgb(images) if images.shape[-1] == 1 else images


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

    ``augment`` maps a batch of images to a batch of images (for training). ``label_values`` replaces
    ``dataset.labels`` (e.g. soft targets, one row per image of the data set).
    """
    indices = np.asarray(indices)
    labels = np.asarray(dataset.labels if label_values is None else label_values)[indices]
    if dataset.images is not None:
        source = tf.data.Dataset.from_tensor_slices((dataset.images[indices], labels))
        if shuffle:
            source = source.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
        # one batch resized at a time, beside the network (prefetch): parallel resizes took the cores the runtime
        # needs (measured on 2 cores: 49 or 86 img/s from one pass to the next with AUTOTUNE, 86 every pass with 1)
        batches = source.batch(batch_size).map(lambda images, y: (resize_batch(images, image_size), y), num_parallel_calls=1)
    else:
        source = tf.data.Dataset.from_tensor_slices(([str(dataset.paths[i]) for i in indices], labels))
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


def frozen_network(
    backbone: str = "mobilenet_v2", image_size: int = 224, *, layer: str | None = None, pooling: str | None = "avg", runtime: str | None = "auto"
) -> FrozenNetwork:
    """A frozen ImageNet backbone (pooled features, or feature maps with ``pooling=None``) on the fastest runtime."""
    model = build_backbone(backbone, image_size, layer=layer, pooling=pooling)
    key = f"{backbone}-{weights_fingerprint(backbone)}-{image_size}px-{layer or 'last'}-{pooling or 'maps'}"
    return FrozenNetwork(model, runtime=runtime, key=key)


def frozen_outputs(
    network: FrozenNetwork,
    dataset: ImageDataset,
    indices: np.ndarray,
    image_size: int,
    *,
    views: int = 1,
    jitter: tuple[float, float] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    dtype: str = "float32",
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """The network's outputs for ``dataset[indices]`` in dihedral views 0..views-1: an array (views, n, ...).

    Each view transforms the input image first and then runs the network, so every output is exactly what the
    network computes on that augmented image. ``jitter=(brightness, contrast)`` adds one random photometric
    draw per image and view (view 0 stays clean when ``views`` is 1). Cached on disk when the network has a key.
    """
    if not 1 <= views <= 8:
        raise ValueError(f"views must be between 1 and 8, not {views}")
    indices = np.asarray(indices)

    def compute() -> dict[str, np.ndarray]:
        tf.random.set_seed(seed)
        out = []
        quiet = not progress or bool(os.environ.get("TQDM_DISABLE"))  # the runner turns bars off in executed notebooks
        with tqdm(total=views * len(indices), desc=f"{network.model.name} ({network.runtime})", unit="img", disable=quiet) as bar:
            for view in range(views):
                chunks = []
                for images in image_batches(dataset, indices, image_size, batch_size, with_labels=False):
                    images = dihedral_view(images, view)
                    if jitter is not None and (views > 1 or view > 0):
                        images = brightness_contrast(images, *jitter)
                    chunks.append(network(images).astype(dtype))
                    bar.update(int(images.shape[0]))
                out.append(np.concatenate(chunks))
        return {"outputs": np.stack(out), "indices": indices}

    digest = hashlib.sha256(f"{dataset.fingerprint}:{views}:{jitter}:{seed}:{dtype}:{image_size}".encode())
    digest.update(indices.astype(np.int64).tobytes())
    path = cache_dir("outputs") / f"{dataset.name}-{network.key}-v{views}-n{len(indices)}-{digest.hexdigest()[:12]}.npz"
    arrays, _ = cached_arrays(path, compute, ("outputs", "indices"), enabled=cache and network.key is not None)
    if not np.array_equal(arrays["indices"], indices):  # a hash collision or a stale file: never trust it
        arrays = compute()
    return arrays["outputs"]


@dataclass
class Features:
    """A feature matrix with its labels, the data set indices it came from and how it was made."""

    X: np.ndarray
    y: np.ndarray
    indices: np.ndarray
    from_cache: bool
    images_per_s: float | None = None
    runtime: str | None = None


def feature_cache_key(dataset: ImageDataset, indices: np.ndarray, backbone: str, image_size: int, layer: str | None, tta_views: int) -> str:
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
    runtime: str | None = "auto",
) -> Features:
    """Global-average-pooled backbone features of ``dataset[indices]``, from the cache when present.

    ``tta_views`` > 1 averages the features over that many flips/rotations.
    """
    if not 1 <= tta_views <= 8:
        raise ValueError(f"tta_views must be between 1 and 8, not {tta_views}")
    indices = np.asarray(indices)
    path = cache_dir("features") / (feature_cache_key(dataset, indices, backbone, image_size, layer, tta_views) + ".npz")
    timing: dict[str, float | str] = {}

    def compute() -> dict[str, np.ndarray]:
        network = frozen_network(backbone, image_size, layer=layer, runtime=runtime)
        start = time.perf_counter()
        views = frozen_outputs(network, dataset, indices, image_size, views=tta_views, batch_size=batch_size, cache=False, progress=progress)
        timing.update(images_per_s=len(indices) * tta_views / (time.perf_counter() - start), runtime=network.runtime)
        return {"X": views.mean(axis=0).astype(np.float32), "indices": indices}

    arrays, from_cache = cached_arrays(path, compute, ("X", "indices"), enabled=cache)
    if not np.array_equal(arrays["indices"], indices):
        arrays, from_cache = compute(), False
    return Features(arrays["X"], dataset.labels[indices], indices, from_cache, timing.get("images_per_s"), timing.get("runtime"))


def featurize_variant(
    dataset: ImageDataset, indices: np.ndarray, spec, *, backbone: str = "mobilenet_v2", runtime: str | None = "auto"
) -> np.ndarray:
    """Features of one variant: the concatenated ``featurize`` blocks of ``spec``, a list of [image size, layer
    ("last" for the last one), test-time views]."""
    blocks = [
        featurize(
            dataset, indices, backbone=backbone, image_size=int(size), layer=None if layer == "last" else layer, tta_views=int(views), runtime=runtime
        ).X
        for size, layer, views in spec
    ]
    return np.hstack(blocks)
