"""Sequence classifiers for (N, T, C) series: a 1-D FCN with GAP and an LSTM, plus training and timing helpers.

``build_fcn`` follows Wang et al. (2017): three Conv1D-BatchNorm-ReLU blocks
(128, 256, 128 filters; kernels 8, 5, 3), global average pooling and one dense
softmax layer right after it, so class activation maps (``helpers.cam``)
apply. ``build_lstm`` keeps every setting the fast cuDNN kernel needs on a GPU
(tanh / sigmoid activations, no recurrent dropout, no unrolling, biases) and
masks right-padded steps, which cuDNN also accepts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import keras
import numpy as np


def build_fcn(
    n_timesteps: int | None,
    n_channels: int,
    n_classes: int,
    *,
    filters: Sequence[int] = (128, 256, 128),
    kernel_sizes: Sequence[int] = (8, 5, 3),
    masked: bool = False,
    mask_value: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """A fully convolutional network: ``conv{i}`` -> ``bn{i}`` -> ``relu{i}`` blocks, ``gap``, ``classifier``.

    With ``masked=True``, steps where every channel equals ``mask_value`` (right
    padding) are zeroed after each block and left out of the average pooling,
    so a padded series gets exactly the prediction of the unpadded one.
    ``seed`` (optional) seeds Python, NumPy and Keras first, for reproducible initial weights.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_timesteps, n_channels), name="series")
    valid = keras.ops.any(keras.ops.not_equal(inputs, mask_value), axis=-1) if masked else None
    x = inputs
    for i, (n_filters, size) in enumerate(zip(filters, kernel_sizes), start=1):
        x = keras.layers.Conv1D(n_filters, size, padding="same", name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu{i}")(x)
        if masked:
            x = x * keras.ops.expand_dims(keras.ops.cast(valid, x.dtype), -1)
    pooled = keras.layers.GlobalAveragePooling1D(name="gap")(x, mask=valid) if masked else keras.layers.GlobalAveragePooling1D(name="gap")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="classifier", dtype="float32")(pooled)
    return keras.Model(inputs, outputs, name="fcn")


def build_lstm(
    n_timesteps: int | None,
    n_channels: int,
    n_classes: int,
    *,
    units: int = 128,
    dropout: float = 0.2,
    masked: bool = False,
    mask_value: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """``masking`` (optional) -> ``lstm`` (last state, cuDNN-compatible settings) -> ``dropout`` -> ``classifier``.

    ``seed`` (optional) seeds Python, NumPy and Keras first, for reproducible initial weights.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_timesteps, n_channels), name="series")
    x = keras.layers.Masking(mask_value, name="masking")(inputs) if masked else inputs
    x = keras.layers.LSTM(
        units, activation="tanh", recurrent_activation="sigmoid", recurrent_dropout=0.0,
        unroll=False, use_bias=True, name="lstm",
    )(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="classifier", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="lstm")


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every training epoch in ``seconds``."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


@dataclass
class TrainedModel:
    """A fitted Keras model with its training history and per-epoch timings."""

    model: keras.Model
    history: dict
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time, leaving out the first epoch (graph tracing) when there are more."""
        times = self.epoch_seconds[1:] if len(self.epoch_seconds) > 1 else self.epoch_seconds
        return float(np.median(times))


def train_classifier(
    model: keras.Model,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    lr_patience: int = 20,
    seed: int = 0,
    verbose: int = 0,
) -> TrainedModel:
    """Adam + sparse cross-entropy on the training set only; the learning rate halves when training loss stalls.

    No early stopping on held-out data: the model after the last epoch is the
    one evaluated, the same protocol for every model and seed.
    """
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=lr_patience, min_lr=1e-4)
    history = model.fit(
        X, y, epochs=epochs, batch_size=min(batch_size, len(X)), shuffle=True, verbose=verbose,
        callbacks=[timer, reduce],
    )
    return TrainedModel(model, {k: [float(v) for v in vs] for k, vs in history.history.items()}, timer.seconds)


def inference_latency(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, repeats: int = 5) -> dict[str, float]:
    """Seconds per sample: ``batched`` (whole ``X`` at once, best of ``repeats``) and ``single`` (one at a time, median).

    ``predict`` is called once first as a warm-up, so compilation is not timed.
    """
    predict(X[:1])
    predict(X)
    batched = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(X)
        batched.append((time.perf_counter() - start) / len(X))
    single = []
    for i in range(min(len(X), 10 * repeats)):
        start = time.perf_counter()
        predict(X[i : i + 1])
        single.append(time.perf_counter() - start)
    return {"batched": float(min(batched)), "single": float(np.median(single))}


def keras_predict(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """Class probabilities through the model's compiled predict step (no per-call tf.data overhead)."""
    return lambda X: np.asarray(model.predict_on_batch(np.asarray(X, np.float32)))


def channel_occlusion(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    target: np.ndarray,
    *,
    value: float = 0.0,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """(N, C): how much each sample's ``target`` class probability drops when one channel is replaced by ``value``.

    On standardized series ``value=0`` is the channel's training mean, so the
    channel is "switched off" and carries no information; padding stays padding.
    """
    X = np.asarray(X, np.float32)
    rows = np.arange(len(X))
    base = predict(X)[rows, target]
    drops = np.empty((len(X), X.shape[2]), dtype=np.float64)
    valid = np.ones(X.shape[:2], bool) if lengths is None else np.arange(X.shape[1])[None] < np.asarray(lengths)[:, None]
    for c in range(X.shape[2]):
        occluded = X.copy()
        occluded[..., c][valid] = value
        drops[:, c] = base - predict(occluded)[rows, target]
    return drops
