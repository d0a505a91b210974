"""Class activation maps: where in an image (or a series) the evidence for a class lies.

``class_activation_maps`` is CAM (Zhou et al. 2016): for a model whose last
feature maps go through global average pooling (GAP, 1-D or 2-D) and then,
possibly through ``Dropout``, into one ``Dense`` classifier, the map of class
``c`` is the feature maps weighted by the dense kernel's column ``c``. Its
spatial mean plus the dense bias is exactly the class logit.

``grad_cam`` is Grad-CAM (Selvaraju et al. 2017) for any layer with spatial
(or temporal) outputs of any Keras model, nested sub-models included: the
channels are weighted by the spatial mean of the gradient of the class score.
The score is the pre-softmax logit when the model ends in a softmax/sigmoid
``Dense`` layer. For a GAP -> dense model, Grad-CAM of the last feature maps
equals CAM divided by the number of positions.

Both return raw maps, (N, h, w) for images or (N, t) for series: not ReLU'd,
not normalized. ``upsample_maps``, ``normalize_maps`` and ``overlay`` turn
them into pictures.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable

import cv2
import keras
import numpy as np
import tensorflow as tf

_GAP_TYPES = (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D)
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D)


# --------------------------------------------------------------------------- model anatomy


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def _graph_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def find_layer_path(model: keras.Model, name: str) -> list:
    """The chain of layers leading to the layer called ``name``: nested models first, the layer last."""
    for layer in _graph_layers(model):
        if layer.name == name:
            return [layer]
    for layer in _graph_layers(model):
        if _is_model(layer):
            try:
                return [layer, *find_layer_path(layer, name)]
            except ValueError:
                continue
    raise ValueError(f"model {model.name!r} has no layer named {name!r} (nested models searched too)")


def gap_head(model: keras.Model) -> tuple[keras.layers.Layer, keras.layers.Dense]:
    """The top-level global-average-pooling layer and the ``Dense`` classifier that follows it.

    Only dropout layers may sit between them; anything else breaks CAM (use ``grad_cam`` then).
    """
    layers = _graph_layers(model)
    gaps = [i for i, layer in enumerate(layers) if isinstance(layer, _GAP_TYPES)]
    if not gaps:
        raise ValueError(
            f"model {model.name!r} has no GlobalAveragePooling1D/2D layer at its top level: CAM needs "
            "feature maps -> GAP -> Dense; use grad_cam for other models"
        )
    position = gaps[-1]
    gap = layers[position]
    for layer in layers[position + 1 :]:
        if isinstance(layer, _PASS_THROUGH):
            continue
        rest = layers[layers.index(layer) + 1 :]
        if isinstance(layer, keras.layers.Dense) and all(isinstance(r, keras.layers.Activation) for r in rest):
            return gap, layer
        break
    raise ValueError(
        f"in model {model.name!r} the layers after {gap.name!r} (dropout aside) are not one Dense classifier "
        "ending the model: CAM needs GAP -> Dense; use grad_cam instead"
    )


def _default_target(model: keras.Model) -> tuple[keras.layers.Layer, str]:
    """Where Grad-CAM looks by default: the input of the (last) GAP layer, else the last spatial output."""
    layers = _graph_layers(model)
    gaps = [layer for layer in layers if isinstance(layer, _GAP_TYPES)]
    if gaps:
        return gaps[-1], "input"
    for layer in reversed(layers):
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        if len(shape) in (3, 4):
            return layer, "output"
    raise ValueError(f"model {model.name!r} has no layer with (N, t, C) or (N, h, w, C) outputs: name one with layer_name")


@contextmanager
def _tapped(*layers):
    """Record each layer's (first positional) input and its output whenever it is called, eager or traced.

    Yields one dict per layer with keys ``input`` and ``output``; the layers'
    ``call`` is restored on exit. This works at any depth of nesting, because the
    tensors recorded are the ones the enclosing model actually computes with
    (no sub-graph to rebuild, so no "graph disconnected"). A layer called several
    times in one forward pass keeps its last call.
    """
    records = [{} for _ in layers]
    for layer, record in zip(layers, records):
        original = layer.call

        def call(*args, _original=original, _record=record, **kwargs):
            outputs = _original(*args, **kwargs)
            _record["input"] = args[0] if args else next(iter(kwargs.values()))
            _record["output"] = outputs
            return outputs

        layer.call = call
    try:
        yield records
    finally:
        for layer in layers:
            if "call" in vars(layer):
                del layer.call


def _final_layer(model: keras.Model):
    last = _graph_layers(model)[-1]
    return _final_layer(last) if _is_model(last) else last


def _logits_from(last) -> Callable | None:
    """``input of last -> class logits`` when the model ends in a softmax/sigmoid Dense layer, else None.

    A single sigmoid unit gives two scores: (-z, z) for classes 0 and 1.
    """
    activation = getattr(last, "activation", None)
    if not (isinstance(last, keras.layers.Dense) and activation in (keras.activations.softmax, keras.activations.sigmoid)):
        return None
    kernel, bias = last.kernel, last.bias

    def logits(x):
        z = tf.matmul(tf.cast(x, kernel.dtype), kernel)
        z = z if bias is None else z + bias
        return tf.concat([-z, z], axis=-1) if activation is keras.activations.sigmoid and z.shape[-1] == 1 else z

    return logits


# --------------------------------------------------------------------------- batching


def _batches(inputs, batch_size: int) -> Iterable[np.ndarray]:
    if isinstance(inputs, tf.data.Dataset):
        for element in inputs:
            yield element[0] if isinstance(element, (tuple, list)) else element
        return
    inputs = np.asarray(inputs)
    for start in range(0, len(inputs), batch_size):
        yield inputs[start : start + batch_size]


def _class_vector(class_index, start: int, n: int) -> np.ndarray:
    """-1 (predicted class) or the requested class for samples ``start .. start + n``."""
    if class_index is None:
        return np.full(n, -1, dtype=np.int32)
    if np.ndim(class_index) == 0:
        return np.full(n, int(class_index), dtype=np.int32)
    chosen = np.asarray(class_index, dtype=np.int32)[start : start + n]
    if len(chosen) != n:
        raise ValueError("class_index has fewer entries than inputs")
    return chosen


def _pick(scores: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    classes = tf.where(classes < 0, tf.cast(tf.argmax(scores, axis=-1), tf.int32), classes)
    return tf.gather(scores, classes, axis=1, batch_dims=1)


# --------------------------------------------------------------------------- maps


def class_activation_maps(model: keras.Model, inputs, class_index=None, batch_size: int = 32) -> np.ndarray:
    """CAM: the feature maps at GAP's input weighted by the classifier's kernel column of the class.

    ``inputs``: an array (N, ...) or a tf.data set of batches (images or (images, labels)).
    ``class_index``: None (the predicted class), an int, or one int per sample.
    Returns (N, h, w) for 2-D feature maps or (N, t) for 1-D ones, raw: their mean over
    positions plus the dense bias is the class logit.
    """
    step = _cached(model, ("cam",), lambda: _cam_step(model))
    return _run(step, inputs, class_index, batch_size)


def _cam_step(model: keras.Model) -> Callable:
    gap, dense = gap_head(model)

    @tf.function(reduce_retracing=True)
    def step(x, classes):
        kernel = tf.convert_to_tensor(dense.kernel)
        bias = tf.zeros(kernel.shape[-1], kernel.dtype) if dense.bias is None else tf.convert_to_tensor(dense.bias)
        with _tapped(gap) as (at_gap,):
            model(x, training=False)
        maps = tf.cast(at_gap["input"], kernel.dtype)  # (n, ..., C)
        spatial = list(range(1, len(maps.shape) - 1))
        logits = tf.matmul(tf.reduce_mean(maps, axis=spatial), kernel) + bias
        classes = tf.where(classes < 0, tf.cast(tf.argmax(logits, axis=-1), tf.int32), classes)
        weights = tf.transpose(tf.gather(kernel, classes, axis=1))  # (n, C)
        weights = tf.reshape(weights, [-1] + [1] * len(spatial) + [weights.shape[-1]])
        return tf.reduce_sum(maps * weights, axis=-1)

    return step


def grad_cam(model: keras.Model, inputs, layer_name: str | None = None, class_index=None, batch_size: int = 32) -> np.ndarray:
    """Grad-CAM of any layer with (N, h, w, C) or (N, t, C) outputs, nested sub-models included.

    The channels of ``layer_name`` (default: the feature maps feeding GAP, else the last
    spatial layer) are weighted by the mean gradient of the class score, which is the
    pre-softmax logit when the model ends in a softmax/sigmoid Dense layer.
    Returns raw maps (no ReLU): (N, h, w) or (N, t). ``class_index`` as in CAM.
    """
    step = _cached(model, ("grad_cam", layer_name), lambda: _grad_cam_step(model, layer_name))
    return _run(step, inputs, class_index, batch_size)


def _grad_cam_step(model: keras.Model, layer_name: str | None) -> Callable:
    target, where = (find_layer_path(model, layer_name)[-1], "output") if layer_name else _default_target(model)
    last = _final_layer(model)
    to_logits = _logits_from(last)

    @tf.function(reduce_retracing=True)
    def step(x, classes):
        with tf.GradientTape() as tape:
            tape.watch(x)
            with _tapped(target, last) as (at_target, at_last):
                output = model(x, training=False)
            activation = at_target[where]
            scores = output if to_logits is None else to_logits(at_last["input"])
            score = _pick(tf.cast(scores, tf.float32), classes)
        gradients = tape.gradient(score, activation)
        spatial = list(range(1, len(activation.shape) - 1))
        weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=spatial, keepdims=True)
        return tf.reduce_sum(tf.cast(activation, tf.float32) * weights, axis=-1)

    return step


def _cached(model: keras.Model, key: tuple, build: Callable[[], Callable]) -> Callable:
    """The model's compiled step for ``key``, built once: repeated calls reuse its traced function.

    Kept on the model itself (outside Keras' attribute tracking), so it lives and dies with the model.
    """
    steps = model.__dict__.get("_helpers_cam_steps")
    if steps is None:
        steps = {}
        object.__setattr__(model, "_helpers_cam_steps", steps)
    if key not in steps:
        steps[key] = build()
    return steps[key]


def _run(step: Callable, inputs, class_index, batch_size: int) -> np.ndarray:
    chunks, start = [], 0
    for batch in _batches(inputs, batch_size):
        batch = tf.convert_to_tensor(batch, dtype=tf.float32)
        n = int(batch.shape[0])
        classes = tf.constant(_class_vector(class_index, start, n))
        chunks.append(np.asarray(step(batch, classes), dtype=np.float32))
        start += n
    if not chunks:
        raise ValueError("no inputs")
    return np.concatenate(chunks)


def predicted_scores(model: keras.Model, inputs, batch_size: int = 32) -> np.ndarray:
    """The model's outputs for ``inputs`` (array or tf.data batches), as one array."""
    chunks = [np.asarray(model(tf.convert_to_tensor(b, dtype=tf.float32), training=False)) for b in _batches(inputs, batch_size)]
    return np.concatenate(chunks)


# --------------------------------------------------------------------------- pictures


def upsample_maps(maps: np.ndarray, size) -> np.ndarray:
    """Bilinear upsampling of a batch of maps: (N, h, w) to (N, H, W) or (N, t) to (N, T).

    ``size``: (H, W), an int (square for 2-D maps, length for 1-D maps).
    Cell centres keep their positions (half-pixel alignment, as cv2.resize).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        length = int(size if np.ndim(size) == 0 else size[0])
        out = [cv2.resize(m[:, np.newaxis], (1, length), interpolation=cv2.INTER_LINEAR)[:, 0] for m in maps]
        return np.stack(out) if out else np.zeros((0, length), np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected (N, h, w) or (N, t) maps, got shape {maps.shape}")
    height, width = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    out = [cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps]
    return np.stack(out) if out else np.zeros((0, height, width), np.float32)


def normalize_maps(maps: np.ndarray, clip_negative: bool = False) -> np.ndarray:
    """Scale each map of a batch to [0, 1] (min-max); constant maps become 0.

    ``clip_negative=True`` first sets negative evidence to 0 (Grad-CAM's ReLU).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if clip_negative:
        maps = np.maximum(maps, 0.0)
    axes = tuple(range(1, maps.ndim))
    low = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def overlay(image: np.ndarray, cam_map: np.ndarray, alpha: float = 0.5, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """An RGB uint8 picture of ``image`` with ``cam_map`` (any size, resized) blended on top in a colour map.

    ``image``: (H, W) grayscale or (H, W, 3) RGB, uint8 or floats in [0, 255].
    ``cam_map``: one 2-D map; it is min-max normalized unless already within [0, 1].
    """
    from helpers.images import to_rgb

    rgb = np.clip(to_rgb(np.asarray(image)), 0, 255).astype(np.uint8)
    cam_map = np.asarray(cam_map, dtype=np.float32)
    if cam_map.ndim != 2:
        raise ValueError(f"overlay takes one 2-D map, got shape {cam_map.shape}")
    if cam_map.min() < 0 or cam_map.max() > 1:
        cam_map = normalize_maps(cam_map[np.newaxis])[0]
    cam_map = cv2.resize(cam_map, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.uint8(np.clip(cam_map, 0, 1) * 255), colormap)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 1.0 - alpha, heat, alpha, 0.0)


def map_correlation(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of maps (flattened); NaN where a map is constant."""
    a = np.asarray(maps_a, dtype=np.float64).reshape(len(maps_a), -1)
    b = np.asarray(maps_b, dtype=np.float64).reshape(len(maps_b), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)
