"""From images to what a frozen network computes on them:
the input pipeline, the frozen forward pass, its caches.

``image_batches`` feeds every model of the series: images (in memory or decoded from files in
parallel) resized to a square RGB batch with pixel values in [0, 255]. ``frozen_outputs`` runs a
``FrozenNetwork`` on the fastest runtime over them in dihedral views (optionally jittered), cached
on disk when the network has a key; ``featurize`` is its pooled-feature form for notebooks 01-02 and
the scikit-learn transformer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers.data.datasets import ImageDataset
from helpers.data.images import read_image, to_rgb
from helpers.models.augment import brightness_contrast, dihedral_view
from helpers.models.backbones import build_backbone, layer_output, weights_fingerprint
from helpers.models.runtime import FrozenNetwork
from helpers.paths import cache_dir, cached_arrays
from helpers.report.progress import progress_bar

AUTOTUNE = tf.data.AUTOTUNE


def _resize(images: tf.Tensor, image_size: int) -> tf.Tensor:
    """Bilinear resize of an image or a batch; antialiased only when shrinking more than 2x (one
    function for both input paths, so the same pixels give the same features whichever way they come
    in)."""
    height = tf.shape(images)[-3]
    return tf.cond(
        height > 2 * image_size,
        lambda: tf.image.resize(images, (image_size, image_size), antialias=True),
        lambda: tf.image.resize(images, (image_size, image_size), antialias=False),
    )


def resize_batch(images: tf.Tensor | np.ndarray, image_size: int) -> tf.Tensor:
    """A batch of in-memory images (N, H, W) or (N, H,
    W, 1 or 3) as float32 RGB, ``image_size`` square."""
    images = tf.cast(images, tf.float32)
    if images.shape.rank == 3:  # grayscale batch (N, H, W)
        images = images[..., tf.newaxis]
    # before copying grayscale to 3 channels: a third of the work, same pixels
    images = _resize(images, image_size)
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
    """Batches of float32 RGB images in [0, 255],
    ``image_size`` square, with labels unless told not to.

    ``augment`` maps a batch of images to a batch of images (for training). ``label_values``
    replaces ``dataset.labels`` (e.g. soft targets, one row per image of the data set).
    """
    indices = np.asarray(indices)
    labels = np.asarray(dataset.labels if label_values is None else label_values)[indices]
    if dataset.images is not None:
        source = tf.data.Dataset.from_tensor_slices((dataset.images[indices], labels))
        if shuffle:
            source = source.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
        # one batch resized at a time, ahead of the model
        # (prefetch): parallel resizes took the cores it needs
        batches = source.batch(batch_size).map(
            lambda images, y: (resize_batch(images, image_size), y), num_parallel_calls=1
        )
    else:
        source = tf.data.Dataset.from_tensor_slices(
            ([str(dataset.paths[i]) for i in indices], labels)
        )
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


def frozen_input_batches(
    dataset: ImageDataset, indices: np.ndarray, image_size: int, batch_size: int = 64
) -> Iterator[np.ndarray]:
    """``image_batches``' images for a frozen runtime, which uses every core: in memory, resized
    here one batch when asked for (2 cores, 224 px: 161 img/s; 97 with tf.data resizing beside the
    runtime); files decoded by tf.data."""
    if dataset.images is None:
        return (
            np.asarray(batch)
            for batch in image_batches(dataset, indices, image_size, batch_size, with_labels=False)
        )
    indices = np.asarray(indices)
    return (
        np.asarray(resize_batch(dataset.images[indices[k : k + batch_size]], image_size))
        for k in range(0, len(indices), batch_size)
    )


def frozen_network(
    backbone: str = "mobilenet_v2",
    image_size: int = 224,
    *,
    layer: str | None = None,
    pooling: str | None = "avg",
    runtime: str | None = "auto",
) -> FrozenNetwork:
    """A frozen ImageNet backbone (pooled features, or feature
    maps with ``pooling=None``) on the fastest runtime."""
    model = build_backbone(backbone, image_size, layer=layer, pooling=pooling)
    return FrozenNetwork(
        model, runtime=runtime, key=_network_key(backbone, image_size, [layer], pooling)
    )


def _network_key(
    backbone: str, image_size: int, layers: list[str | None], pooling: str | None
) -> str:
    """The export cache key of a frozen backbone reading ``layers`` (None: the last), pooled or
    not."""
    return (
        f"{backbone}-{weights_fingerprint(backbone)}-{image_size}px-"
        f"{'+'.join(layer or 'last' for layer in layers)}-{pooling or 'maps'}"
    )


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
    """The network's outputs for ``dataset[indices]`` in
    dihedral views 0..views-1: an array (views, n, ...).

    Each view transforms the input image first and then runs the network, so every output is exactly
    what the network computes on that augmented image. ``jitter=(brightness, contrast)`` adds one
    random photometric draw per image and view (view 0 stays clean when ``views`` is 1). Cached on
    disk when the network has a key.
    """
    _check_tta_views(views, "views")
    indices = np.asarray(indices)

    def compute() -> dict[str, np.ndarray]:
        tf.random.set_seed(seed)
        out = []
        with progress_bar(
            total=views * len(indices),
            desc=f"{network.model.name} ({network.runtime})",
            unit="img",
            progress=progress,
        ) as bar:
            for view in range(views):
                chunks = []
                for images in frozen_input_batches(dataset, indices, image_size, batch_size):
                    images = dihedral_view(images, view)
                    if jitter is not None and (views > 1 or view > 0):
                        images = brightness_contrast(images, *jitter)
                    chunks.append(network(images).astype(dtype))
                    bar.update(int(images.shape[0]))
                out.append(np.concatenate(chunks))
        return {"outputs": np.stack(out), "indices": indices}

    digest = hashlib.sha256(
        f"{dataset.fingerprint}:{views}:{jitter}:{seed}:{dtype}:{image_size}".encode()
    )
    digest.update(indices.astype(np.int64).tobytes())
    path = (
        cache_dir("outputs")
        / f"{dataset.name}-{network.key}-v{views}-n{len(indices)}-{digest.hexdigest()[:12]}.npz"
    )
    arrays, _ = cached_arrays(
        path, compute, ("outputs", "indices"), enabled=cache and network.key is not None
    )
    # a hash collision or a stale file: never trust it
    if not np.array_equal(arrays["indices"], indices):
        arrays = compute()
    return arrays["outputs"]


def _check_tta_views(tta_views: int, name: str = "tta_views") -> None:
    if not 1 <= tta_views <= 8:
        raise ValueError(
            f"{name} must be between 1 and 8 (the dihedral views of a square), not {tta_views}"
        )


def frozen_pooled_layers(
    backbone: str, image_size: int, layers: list[str | None], *, runtime: str | None = "auto"
) -> tuple[FrozenNetwork, dict[str | None, slice]]:
    """One frozen network that pools each of ``layers`` (None:
    the last) and concatenates them, with each layer's columns."""
    if len(layers) == 1:
        return frozen_network(backbone, image_size, layer=layers[0], runtime=runtime), {
            layers[0]: slice(None)
        }
    maps = build_backbone(backbone, image_size, pooling=None)
    outputs = [layer_output(maps, backbone, layer) for layer in layers]
    pooled = [
        keras.layers.GlobalAveragePooling2D(name=f"gap_{i}")(output)
        for i, output in enumerate(outputs)
    ]
    model = keras.Model(
        maps.input,
        keras.layers.Concatenate(name="pooled_layers")(pooled),
        name=f"{backbone}_features",
    )
    edges = np.cumsum([0, *(int(output.shape[-1]) for output in outputs)])
    columns = {layer: slice(edges[i], edges[i + 1]) for i, layer in enumerate(layers)}
    return FrozenNetwork(
        model, runtime=runtime, key=_network_key(backbone, image_size, layers, "avg")
    ), columns


def _pooled_blocks(
    dataset: ImageDataset,
    indices: np.ndarray,
    backbone: str,
    image_size: int,
    blocks: list[tuple[str | None, int]],
    *,
    batch_size: int,
    progress: bool,
    runtime: str | None,
) -> tuple[dict[tuple[str | None, int], np.ndarray], dict[str, float | str]]:
    """Pooled features of each (layer, test-time views) block
    at one image size, all from one frozen pass, and its speed.

    The pass pools every layer the blocks name in as many views as any block asks for; a block of
    ``k`` views averages the first ``k`` (the dihedral views come in a fixed order), what a pass of
    its own would give.
    """
    network, columns = frozen_pooled_layers(
        backbone, image_size, list(dict.fromkeys(layer for layer, _ in blocks)), runtime=runtime
    )
    views = max(count for _, count in blocks)
    start = time.perf_counter()
    outputs = frozen_outputs(
        network,
        dataset,
        indices,
        image_size,
        views=views,
        batch_size=batch_size,
        cache=False,
        progress=progress,
    )
    timing = {
        "images_per_s": len(indices) * views / (time.perf_counter() - start),
        "runtime": network.runtime,
    }
    return {
        (layer, count): outputs[:count, :, columns[layer]].mean(axis=0).astype(np.float32)
        for layer, count in blocks
    }, timing


@dataclass
class Features:
    """A feature matrix with its labels, the data set indices it came from and how it was made."""

    X: np.ndarray
    y: np.ndarray
    indices: np.ndarray
    from_cache: bool
    images_per_s: float | None = None
    runtime: str | None = None


def feature_cache_key(
    dataset: ImageDataset,
    indices: np.ndarray,
    backbone: str,
    image_size: int,
    layer: str | None,
    tta_views: int,
) -> str:
    """Readable cache file stem: data set, backbone,
    weights, size, layer, views, plus a hash of the rest."""
    digest = hashlib.sha256(dataset.fingerprint.encode())
    digest.update(np.asarray(indices, dtype=np.int64).tobytes())
    parts = [
        dataset.name,
        backbone,
        weights_fingerprint(backbone),
        f"{image_size}px",
        layer or "last",
        f"tta{tta_views}",
    ]
    return "-".join(parts) + f"-n{len(indices)}-{digest.hexdigest()[:12]}"


def _feature_path(
    dataset: ImageDataset,
    indices: np.ndarray,
    backbone: str,
    image_size: int,
    layer: str | None,
    tta_views: int,
) -> Path:
    return cache_dir("features") / (
        feature_cache_key(dataset, indices, backbone, image_size, layer, tta_views) + ".npz"
    )


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
    _check_tta_views(tta_views)
    indices = np.asarray(indices)
    timing: dict[str, float | str] = {}

    def compute() -> dict[str, np.ndarray]:
        blocks, speed = _pooled_blocks(
            dataset,
            indices,
            backbone,
            image_size,
            [(layer, tta_views)],
            batch_size=batch_size,
            progress=progress,
            runtime=runtime,
        )
        timing.update(speed)
        return {"X": blocks[layer, tta_views], "indices": indices}

    path = _feature_path(dataset, indices, backbone, image_size, layer, tta_views)
    arrays, from_cache = cached_arrays(path, compute, ("X", "indices"), enabled=cache)
    if not np.array_equal(arrays["indices"], indices):
        arrays, from_cache = compute(), False
    return Features(
        arrays["X"],
        dataset.labels[indices],
        indices,
        from_cache,
        timing.get("images_per_s"),
        timing.get("runtime"),
    )


def featurize_variants(
    dataset: ImageDataset,
    indices: np.ndarray,
    variants: dict[str, list],
    *,
    backbone: str = "mobilenet_v2",
    runtime: str | None = "auto",
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Features of several variants, name -> spec (a list of [image size, layer ("last" for the last
    one), test-time views] whose ``featurize`` blocks are concatenated).

    The variants share their work: per image size, one frozen pass computes every block not cached
    yet (each layer pooled, in as many views as any block needs) and caches each block where
    ``featurize`` reads it.
    """
    indices = np.asarray(indices)
    empty = [name for name, spec in variants.items() if not spec]
    if empty:
        raise ValueError(
            f"variants {empty} list no [image size, layer, test-time views] block: "
            "give each at least one"
        )
    specs = {
        name: [
            (int(size), None if layer == "last" else layer, int(views))
            for size, layer, views in spec
        ]
        for name, spec in variants.items()
    }
    blocks = sorted(
        {block for spec in specs.values() for block in spec},
        key=lambda block: (block[0], block[1] or "", block[2]),
    )
    for _, _, views in blocks:
        _check_tta_views(views)
    for size in sorted({size for size, _, _ in blocks}):
        missing = [
            (layer, v)
            for s, layer, v in blocks
            if s == size and not _feature_path(dataset, indices, backbone, s, layer, v).exists()
        ]
        if missing:
            computed, _ = _pooled_blocks(
                dataset,
                indices,
                backbone,
                size,
                missing,
                batch_size=batch_size,
                progress=progress,
                runtime=runtime,
            )
            for (layer, views), X in computed.items():
                cached_arrays(
                    _feature_path(dataset, indices, backbone, size, layer, views),
                    lambda X=X: {"X": X, "indices": indices},
                    ("X", "indices"),
                )

    def block(size: int, layer: str | None, views: int) -> np.ndarray:
        options = {
            "backbone": backbone,
            "batch_size": batch_size,
            "progress": progress,
            "runtime": runtime,
        }
        return featurize(
            dataset, indices, image_size=size, layer=layer, tta_views=views, **options
        ).X

    return {name: np.hstack([block(*parts) for parts in spec]) for name, spec in specs.items()}


def featurize_variant(
    dataset: ImageDataset,
    indices: np.ndarray,
    spec,
    *,
    backbone: str = "mobilenet_v2",
    runtime: str | None = "auto",
) -> np.ndarray:
    """Features of one variant: the concatenated ``featurize`` blocks of ``spec``, a list of [image
    size, layer ("last" for the last one), test-time views]."""
    return featurize_variants(
        dataset, indices, {"variant": spec}, backbone=backbone, runtime=runtime
    )["variant"]
