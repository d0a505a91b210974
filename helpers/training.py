"""Training GAP classifiers: devices, augmentation, class weights, callbacks and notebook 03's two-stage recipe.

The recipe (notebook 03): stage 1 trains the head (``gap`` -> ``dropout`` ->
``classifier``) with the backbone frozen; stage 2 unfreezes the backbone's top
blocks (BatchNorm kept frozen, i.e. in inference mode), recompiles with a low
learning rate and trains on. Both stages use class weights, a validation split
carved from the training split, early stopping and Keras 3 checkpoints.

Two ways to feed it:

* ``fit_two_stage`` trains a model on image batches (``helpers.features.image_batches``
  with ``augment=make_augmentation()``): the general path, the one to use on a GPU.
* ``train_recipe`` is the CPU path: the frozen lower part of the backbone runs
  once per image and per dihedral view (flips and 90-degree rotations) and its
  feature maps are cached; stage 1 trains on their pooled features, stage 2
  trains the top blocks on the maps. Same model, same losses, a fixed set of
  augmented views instead of fresh random ones each epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from helpers.datasets import ImageDataset
from helpers.features import dihedral_view, image_batches
from helpers.models import (
    FINE_TUNE_FROM,
    backbone_layers,
    build_gap_classifier,
    freeze_all,
    head_model,
    layers_above,
    split_at,
    unfreeze_top,
)

# ----------------------------------------------------------------------------- devices


@dataclass
class DeviceSetup:
    """What ``configure_devices`` turned on."""

    strategy: tf.distribute.Strategy
    gpus: list[str]
    mixed_precision: bool

    def describe(self) -> str:
        """One line for the notebook: devices, strategy, precision policy."""
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU"
        return (
            f"{where}, strategy {type(self.strategy).__name__} with {self.strategy.num_replicas_in_sync} replica(s), "
            f"policy {'mixed_float16' if self.mixed_precision else 'float32'}"
        )


def configure_devices(*, mixed_precision: bool | None = None, multi_gpu: bool = True) -> DeviceSetup:
    """Turn on the GPU path when GPUs exist; leave the CPU default otherwise.

    With GPUs: memory growth on each (TensorFlow would otherwise take all GPU
    memory), the ``mixed_float16`` policy (unless ``mixed_precision=False``;
    classifier outputs stay float32) and ``tf.distribute.MirroredStrategy``
    over all of them (``multi_gpu=False``: the default strategy). Without
    GPUs: float32 and the default strategy. Build and compile models inside
    ``setup.strategy.scope()``. Call it before building any model.
    """
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU was initialised already: growth can no longer change
            pass
    use_mixed = bool(gpus) if mixed_precision is None else mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    strategy = tf.distribute.MirroredStrategy() if gpus and multi_gpu else tf.distribute.get_strategy()
    return DeviceSetup(strategy, [gpu.name for gpu in gpus], use_mixed)


# ----------------------------------------------------------------------------- augmentation


def random_dihedral(images: tf.Tensor) -> tf.Tensor:
    """Each image of a square batch gets one of the 8 flips/90-degree rotations, drawn at random."""
    n = tf.shape(images)[0]
    draws = tf.random.uniform((3, n, 1, 1, 1)) < 0.5
    images = tf.where(draws[0], tf.transpose(images, (0, 2, 1, 3)), images)
    images = tf.where(draws[1], tf.reverse(images, axis=[2]), images)
    return tf.where(draws[2], tf.reverse(images, axis=[1]), images)


def brightness_contrast(images: tf.Tensor, brightness: float = 0.1, contrast: float = 0.1) -> tf.Tensor:
    """Mild photometric jitter per image: contrast x(1 +- ``contrast``) around its mean, then +- ``brightness`` x 255."""
    images = tf.cast(images, tf.float32)
    n = tf.shape(images)[0]
    factor = tf.random.uniform((n, 1, 1, 1), 1.0 - contrast, 1.0 + contrast)
    shift = tf.random.uniform((n, 1, 1, 1), -brightness, brightness) * 255.0
    mean = tf.reduce_mean(images, axis=(1, 2, 3), keepdims=True)
    return tf.clip_by_value((images - mean) * factor + mean + shift, 0.0, 255.0)


def make_augmentation(*, dihedral: bool = True, brightness: float = 0.1, contrast: float = 0.1) -> Callable[[tf.Tensor], tf.Tensor]:
    """An ``augment=`` function for ``image_batches``: random flips/rotations and mild brightness/contrast.

    Electroluminescence images of solar cells have no up or left, so all 8
    dihedral views are valid; strong colour or geometric warps are not.
    """

    def augment(images: tf.Tensor) -> tf.Tensor:
        if dihedral:
            images = random_dihedral(images)
        if brightness or contrast:
            images = brightness_contrast(images, brightness, contrast)
        return images

    return augment


# ----------------------------------------------------------------------------- data


def class_weights(labels: np.ndarray, n_classes: int | None = None) -> dict[int, float]:
    """Balanced class weights ``n / (k * count)``: every class contributes equally to the loss."""
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    counts = np.bincount(labels, minlength=n_classes)
    return {k: (float(len(labels) / (n_classes * counts[k])) if counts[k] else 0.0) for k in range(n_classes)}


def carve_validation(indices: np.ndarray, strata: np.ndarray, fraction: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (fit, validation), stratified by ``strata`` when every stratum allows it."""
    indices = np.asarray(indices)
    groups = np.asarray(strata)[indices]
    _, counts = np.unique(groups, return_counts=True)
    n_val = max(1, int(round(fraction * len(indices))))
    stratify = groups if counts.min() >= 2 and n_val >= len(counts) and len(indices) - n_val >= len(counts) else None
    fit, validation = train_test_split(indices, test_size=n_val, random_state=seed, stratify=stratify)
    return np.sort(fit), np.sort(validation)


class ViewSampler(keras.utils.PyDataset):
    """Batches from cached per-view arrays ``(views, n, ...)``: each epoch, each sample in one random view.

    With one view and ``shuffle=False`` it simply batches ``arrays[0]`` in order.
    """

    def __init__(self, arrays: np.ndarray, labels: np.ndarray, batch_size: int = 32, *, shuffle: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.arrays, self.labels = arrays, np.asarray(labels)
        if arrays.shape[1] != len(self.labels):
            raise ValueError(f"{arrays.shape[1]} samples but {len(self.labels)} labels")
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def on_epoch_end(self) -> None:
        n, views = len(self.labels), self.arrays.shape[0]
        self.order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        self.views = self.rng.integers(0, views, n) if views > 1 else np.zeros(n, dtype=int)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.arrays[self.views[chosen], chosen].astype(np.float32)
        return x, self.labels[chosen]


def cache_feature_maps(
    lower: keras.Model,
    dataset: ImageDataset,
    indices: np.ndarray,
    image_size: int,
    *,
    views: int = 1,
    jitter: tuple[float, float] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    dtype: str = "float16",
    progress: bool = True,
) -> np.ndarray:
    """``lower``'s outputs for ``dataset[indices]`` in dihedral views 0..views-1: an array (views, n, ...).

    Each view transforms the input image first and then runs the network, so
    every cached map is exactly what the network computes on that augmented
    image. ``jitter=(brightness, contrast)`` adds one random photometric draw
    per image and view (view 0 stays clean when ``views`` is 1).
    """
    if not 1 <= views <= 8:
        raise ValueError(f"views must be between 1 and 8, not {views}")
    tf.random.set_seed(seed)
    forward = getattr(lower, "_frozen_forward", None)
    if forward is None:  # one traced function per model, reused across calls
        forward = tf.function(lambda images: lower(images, training=False), reduce_retracing=True)
        lower._frozen_forward = forward
    out = []
    with tqdm(total=views * len(indices), desc="feature maps", unit="img", disable=not progress) as bar:
        for view in range(views):
            chunks = []
            for images in image_batches(dataset, indices, image_size, batch_size, with_labels=False):
                images = dihedral_view(images, view)
                if jitter is not None and (views > 1 or view > 0):
                    images = brightness_contrast(images, *jitter)
                chunks.append(np.asarray(forward(images)).astype(dtype))
                bar.update(int(images.shape[0]))
            out.append(np.concatenate(chunks))
    return np.stack(out)


def pooled_from_maps(model: keras.Model, cut_layer: str, maps: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """GAP features from cached maps ``(views, n, ...)`` through the (frozen) layers above ``cut_layer``: (views, n, D)."""
    top = keras.Model(model.get_layer(cut_layer).output, model.get_layer("gap").output)
    forward = tf.function(lambda x: top(x, training=False), reduce_retracing=True)
    pooled = []
    for view_maps in maps:
        chunks = [np.asarray(forward(tf.constant(view_maps[i : i + batch_size], tf.float32))) for i in range(0, len(view_maps), batch_size)]
        pooled.append(np.concatenate(chunks))
    return np.stack(pooled).astype(np.float32)


# ----------------------------------------------------------------------------- fitting


class SaveBestModel(keras.callbacks.Callback):
    """Save ``target`` (default: the model being fit) as ``.keras`` whenever ``monitor`` improves.

    Unlike ``ModelCheckpoint`` it can save a model other than the one being
    fit: the full classifier while its upper part trains on cached maps.
    """

    def __init__(self, path: str | Path, target: keras.Model | None = None, monitor: str = "val_loss", mode: str = "min"):
        super().__init__()
        if not str(path).endswith(".keras"):
            raise ValueError("checkpoints are saved in the Keras 3 format: use a path ending in .keras")
        self.path, self.target, self.monitor, self.mode = Path(path), target, monitor, mode
        self.best = math.inf if mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if (value < self.best) if self.mode == "min" else (value > self.best):
            self.best = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            (self.target or self.model).save(self.path)


def training_callbacks(
    checkpoint: str | Path | None = None,
    *,
    target: keras.Model | None = None,
    patience: int = 3,
    monitor: str = "val_loss",
    reduce_lr_patience: int | None = None,
) -> list[keras.callbacks.Callback]:
    """Early stopping on ``monitor`` (best weights restored) and, with ``checkpoint``, a ``.keras`` checkpoint of the best epoch.

    ``reduce_lr_patience``: also halve the learning rate after that many epochs without a better ``monitor``.
    """
    mode = "max" if "acc" in monitor or "auc" in monitor else "min"
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True)
    ]
    if reduce_lr_patience is not None:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=reduce_lr_patience, min_lr=1e-6))
    if checkpoint is not None:
        callbacks.append(SaveBestModel(checkpoint, target, monitor, mode))
    return callbacks


def compile_classifier(model: keras.Model, learning_rate: float, *, soft_targets: bool = False) -> None:
    """Adam with ``learning_rate``, cross-entropy and accuracy. Call again after changing ``trainable``.

    Targets are integer labels, or with ``soft_targets`` class probabilities (n, classes),
    e.g. ``ImageDataset.target_probabilities``; accuracy then compares argmaxes.
    """
    if soft_targets:
        loss, accuracy = keras.losses.CategoricalCrossentropy(), keras.metrics.CategoricalAccuracy(name="accuracy")
    else:
        loss, accuracy = keras.losses.SparseCategoricalCrossentropy(), keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[accuracy])


@dataclass
class StageResult:
    """One ``fit``: its per-epoch history, wall time, epochs run and the best (restored) epoch."""

    name: str
    history: pd.DataFrame
    seconds: float
    images: int = 0

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def best_epoch(self) -> int:
        return int(self.history["val_loss"].idxmin()) + 1 if "val_loss" in self.history else self.epochs_run

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")


def fit_stage(
    model: keras.Model,
    train,
    validation,
    *,
    name: str,
    epochs: int,
    learning_rate: float,
    class_weight: dict[int, float] | None = None,
    soft_targets: bool = False,
    patience: int = 3,
    reduce_lr_patience: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_target: keras.Model | None = None,
    n_train: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 0,
) -> StageResult:
    """Compile ``model`` (with its current ``trainable`` flags) and fit it with early stopping and checkpoints.

    ``soft_targets``: ``train`` and ``validation`` give class probabilities instead of labels.
    """
    with (strategy or tf.distribute.get_strategy()).scope():
        compile_classifier(model, learning_rate, soft_targets=soft_targets)
    callbacks = training_callbacks(checkpoint, target=checkpoint_target, patience=patience, reduce_lr_patience=reduce_lr_patience)
    start = time.perf_counter()
    history = model.fit(train, validation_data=validation, epochs=epochs, class_weight=class_weight, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    frame = pd.DataFrame(history.history)
    frame.index.name = "epoch"
    return StageResult(name, frame, seconds, (n_train or 0) * len(frame))


@dataclass
class TwoStageResult:
    """The two stages of the recipe, plus anything done before them (e.g. caching feature maps)."""

    head: StageResult
    fine_tune: StageResult | None
    setup_seconds: float = 0.0
    extras: dict = field(default_factory=dict)

    @property
    def stages(self) -> list[StageResult]:
        return [s for s in (self.head, self.fine_tune) if s is not None]

    @property
    def epochs_run(self) -> int:
        return sum(s.epochs_run for s in self.stages)

    @property
    def train_seconds(self) -> float:
        return self.setup_seconds + sum(s.seconds for s in self.stages)

    def curves(self) -> pd.DataFrame:
        """Learning curves of both stages, one row per epoch, numbered across stages."""
        frames = [s.history.reset_index().assign(stage=s.name) for s in self.stages]
        curves = pd.concat(frames, ignore_index=True)
        curves["epoch"] = np.arange(1, len(curves) + 1)
        return curves


def fit_two_stage(
    model: keras.Model,
    train,
    validation,
    *,
    head_epochs: int = 10,
    fine_tune_epochs: int = 10,
    fine_tune_from: str | None = None,
    head_learning_rate: float = 1e-3,
    fine_tune_learning_rate: float = 1e-4,
    class_weight: dict[int, float] | None = None,
    patience: int = 3,
    checkpoint_dir: str | Path | None = None,
    n_train: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 0,
) -> TwoStageResult:
    """Notebook 03's recipe on image batches: head with the backbone frozen, then the top blocks unfrozen.

    ``train``/``validation`` are what ``model.fit`` takes (e.g. ``image_batches``
    with ``augment=make_augmentation()`` for training). ``fine_tune_from`` names
    the backbone layer above which layers are unfrozen (default
    ``FINE_TUNE_FROM``, else the top 20 %); ``fine_tune_epochs=0`` stops after the head.
    """
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    freeze_all(model)
    head = fit_stage(
        model, train, validation, name="head", epochs=head_epochs, learning_rate=head_learning_rate, class_weight=class_weight,
        patience=patience, checkpoint=checkpoint_dir and checkpoint_dir / "head.keras", n_train=n_train, strategy=strategy, verbose=verbose,
    )
    if fine_tune_epochs <= 0:
        return TwoStageResult(head, None)
    unfreeze_top(model, _n_unfrozen(model, fine_tune_from))
    tuned = fit_stage(
        model, train, validation, name="fine-tune", epochs=fine_tune_epochs, learning_rate=fine_tune_learning_rate,
        class_weight=class_weight, patience=patience, checkpoint=checkpoint_dir and checkpoint_dir / "fine_tuned.keras",
        n_train=n_train, strategy=strategy, verbose=verbose,
    )
    return TwoStageResult(head, tuned)


def _n_unfrozen(model: keras.Model, fine_tune_from: str | None) -> int:
    if fine_tune_from is None:
        fine_tune_from = next((name for name in FINE_TUNE_FROM.values() if name in {l.name for l in model.layers}), None)
    if fine_tune_from is None:
        return max(1, len(backbone_layers(model)) // 5)
    return layers_above(model, fine_tune_from)


def train_recipe(
    dataset: ImageDataset,
    fit_indices: np.ndarray,
    validation_indices: np.ndarray,
    *,
    backbone: str = "mobilenet_v2",
    image_size: int = 224,
    views: int = 8,
    jitter: tuple[float, float] | None = (0.1, 0.1),
    head_epochs: int = 30,
    fine_tune_epochs: int = 10,
    head_learning_rate: float = 1e-3,
    fine_tune_learning_rate: float = 1e-4,
    dropout: float = 0.2,
    batch_size: int = 32,
    patience: int = 4,
    fine_tune_from: str | None = None,
    checkpoint_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
    label_values: np.ndarray | None = None,
) -> tuple[keras.Model, TwoStageResult]:
    """The CPU-fast two-stage recipe: build, cache the lower part's maps, train the head, fine-tune the top.

    Unlike notebook 03, the head is trained with Keras (class-weighted, early stopping), as notebook 06 uses it.

    Returns the trained full classifier (images in, probabilities out) and the
    stage results. ``label_values`` replaces ``dataset.labels`` (e.g. relabelled targets).
    """
    labels = np.asarray(dataset.labels if label_values is None else label_values)
    n_classes = len(dataset.class_names)
    keras.utils.set_random_seed(seed)
    cut = fine_tune_from or FINE_TUNE_FROM[backbone]
    model = build_gap_classifier(n_classes, backbone, image_size, dropout=dropout)
    lower, upper = split_at(model, cut)
    start = time.perf_counter()
    fit_maps = cache_feature_maps(lower, dataset, fit_indices, image_size, views=views, jitter=jitter, seed=seed, progress=progress)
    val_maps = cache_feature_maps(lower, dataset, validation_indices, image_size, views=1, progress=progress)
    fit_pooled, val_pooled = pooled_from_maps(model, cut, fit_maps), pooled_from_maps(model, cut, val_maps)
    setup_seconds = time.perf_counter() - start
    y_fit, y_val = labels[fit_indices], labels[validation_indices]
    weights = class_weights(y_fit, n_classes)
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    freeze_all(model)
    head = fit_stage(
        head_model(model), ViewSampler(fit_pooled, y_fit, batch_size, seed=seed), (val_pooled[0], y_val), name="head",
        epochs=head_epochs, learning_rate=head_learning_rate, class_weight=weights, patience=patience,
        checkpoint=checkpoint_dir and checkpoint_dir / "head.keras", checkpoint_target=model, n_train=len(y_fit),
    )
    tuned = None
    if fine_tune_epochs > 0:
        unfreeze_top(model, layers_above(model, cut))
        tuned = fit_stage(
            upper, ViewSampler(fit_maps, y_fit, batch_size, seed=seed + 1), (val_maps[0].astype(np.float32), y_val),
            name="fine-tune", epochs=fine_tune_epochs, learning_rate=fine_tune_learning_rate, class_weight=weights,
            patience=patience, checkpoint=checkpoint_dir and checkpoint_dir / "fine_tuned.keras", checkpoint_target=model,
            n_train=len(y_fit),
        )
    return model, TwoStageResult(head, tuned, setup_seconds)
