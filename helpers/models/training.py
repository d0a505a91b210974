"""Training plumbing shared by the notebooks: devices, batches
from cached views, epoch timing, BatchNorm statistics.

The recipes themselves (compile, callbacks, fit) are
written in the notebooks; this is what they lean on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


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
            f"{where}, strategy {type(self.strategy).__name__} with "
            f"{self.strategy.num_replicas_in_sync} replica(s), "
            f"policy {'mixed_float16' if self.mixed_precision else 'float32'}"
        )


def _not_a_retracing_report(record: logging.LogRecord) -> bool:
    """False for TensorFlow's "triggered tf.function retracing" warning: fresh models trained one
    after another (an exercise's short runs) each trace their own step once, which is not the
    excessive retracing that warning is about."""
    return "triggered tf.function retracing" not in record.getMessage()


def configure_devices(
    *,
    mixed_precision: bool | None = None,
    multi_gpu: bool = True,
    devices: list[str] | None = None,
) -> DeviceSetup:
    """Turn on the GPU path when GPUs exist; leave the CPU default otherwise.

    With GPUs: memory growth on each (TensorFlow would otherwise take all GPU memory), the
    ``mixed_float16`` policy (unless ``mixed_precision=False``; classifier outputs stay float32) and
    ``tf.distribute.MirroredStrategy`` over all of them (``multi_gpu=False``: the default strategy).
    Without GPUs: float32 and the default strategy. Build and compile models inside
    ``setup.strategy.scope()``.

    ``devices`` names the devices the ``MirroredStrategy`` mirrors over instead of every GPU, and
    builds it even without GPUs (e.g. ``devices=["/cpu:0"]``: the multi-GPU code path on a CPU).
    TensorFlow's retracing warning is filtered out (see ``_not_a_retracing_report``).
    """
    tf.get_logger().addFilter(_not_a_retracing_report)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU was initialised already: growth can no longer change
            pass
    use_mixed = bool(gpus) if mixed_precision is None else mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    strategy = (
        tf.distribute.MirroredStrategy(devices)
        if multi_gpu and (gpus or devices)
        else tf.distribute.get_strategy()
    )
    return DeviceSetup(strategy, [gpu.name for gpu in gpus], use_mixed)


class ViewSampler(keras.utils.PyDataset):
    """Batches from cached per-view arrays ``(views, n, ...)``:
    each epoch, each sample in one random view.

    With one view and ``shuffle=False`` it simply batches ``arrays[0]`` in order. ``targets`` are
    labels or soft targets, one row per sample.
    """

    def __init__(
        self,
        arrays: np.ndarray,
        targets: np.ndarray,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.arrays, self.targets = arrays, np.asarray(targets)
        if arrays.shape[1] != len(self.targets):
            raise ValueError(f"{arrays.shape[1]} samples but {len(self.targets)} targets")
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.targets) / self.batch_size)

    def on_epoch_end(self) -> None:
        n, views = len(self.targets), self.arrays.shape[0]
        self.order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        self.views = self.rng.integers(0, views, n) if views > 1 else np.zeros(n, dtype=int)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.arrays[self.views[chosen], chosen].astype(np.float32), self.targets[chosen]


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every training epoch in ``seconds``."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time, leaving out the first epoch (graph tracing) when there are more."""
        times = self.seconds[1:] if len(self.seconds) > 1 else self.seconds
        return float(np.median(times))


def recalibrate_batchnorm(model: keras.Model, X: np.ndarray, batch_size: int = 256) -> None:
    """Set every BatchNormalization layer's moving mean and variance to the exact statistics of its
    inputs over ``X``, layer by layer with the final weights (earlier layers already recalibrated).

    A model trained from scratch for few steps (a small data set: a few batches an epoch) ends with
    moving averages that lag far behind its final weights, so it fits in training mode and fails in
    inference mode.
    """
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        probe = keras.Model(
            model.inputs[0] if len(model.inputs) == 1 else model.inputs, layer.input
        )
        inputs = np.concatenate(
            [
                np.asarray(probe(X[i : i + batch_size], training=False))
                for i in range(0, len(X), batch_size)
            ]
        )
        axes = tuple(
            a
            for a in range(inputs.ndim)
            if a != (layer.axis if layer.axis >= 0 else inputs.ndim + layer.axis)
        )
        layer.moving_mean.assign(inputs.mean(axis=axes).astype(np.float32))
        layer.moving_variance.assign(inputs.var(axis=axes).astype(np.float32))


def inference_latency(
    predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, repeats: int = 5
) -> dict[str, float]:
    """Seconds per sample: ``batched`` (whole ``X`` at once,
    best of ``repeats``) and ``single`` (one at a time, median).

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
