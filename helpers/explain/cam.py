"""Class activation maps (CAM) and Grad-CAM: where in
an image (or a series) the evidence for a class lies.

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
not normalized (``helpers.explain.heatmaps`` turns them into pictures).
A pooled class-map head (``helpers.models.pooling``: a 1x1 convolution scores every position and
a pooling turns the scores into one logit) carries its CAM as a layer: ``class_activation_maps``
returns that ``class_map``, the evidence for class 1 (its negative for class 0), whatever the
pooling.

``cams_from_maps`` is the same formula on feature maps computed once (e.g. cached),
``contrast_cams`` its class-against-the-rest form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager

import keras
import numpy as np
import tensorflow as tf

from helpers.models.pooling import PoolClassMap

_GAP_TYPES = (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D)
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D)


# --------------------------------------------------------------------------- model anatomy


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def _graph_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def find_layer_path(model: keras.Model, name: str) -> list:
    """The chain of layers leading to the layer called
    ``name``: nested models first, the layer last."""
    for layer in _graph_layers(model):
        if layer.name == name:
            return [layer]
    for layer in _graph_layers(model):
        if _is_model(layer):
            try:
                return [layer, *find_layer_path(layer, name)]
            except ValueError:
                continue
    raise ValueError(
        f"model {model.name!r} has no layer named {name!r} (nested models searched too)"
    )


def gap_head(model: keras.Model) -> tuple[keras.layers.Layer, keras.layers.Dense]:
    """The top-level global-average-pooling layer and the ``Dense`` classifier that follows it.

    Only dropout layers may sit between them; anything else breaks CAM (use ``grad_cam`` then).
    """
    layers = _graph_layers(model)
    gaps = [i for i, layer in enumerate(layers) if isinstance(layer, _GAP_TYPES)]
    if not gaps:
        raise ValueError(
            f"model {model.name!r} has no GlobalAveragePooling1D/2D layer at its top "
            "level: CAM needs "
            "feature maps -> GAP -> Dense; use grad_cam for other models"
        )
    position = gaps[-1]
    gap = layers[position]
    for layer in layers[position + 1 :]:
        if isinstance(layer, _PASS_THROUGH):
            continue
        rest = layers[layers.index(layer) + 1 :]
        if isinstance(layer, keras.layers.Dense) and all(
            isinstance(r, keras.layers.Activation) for r in rest
        ):
            return gap, layer
        break
    raise ValueError(
        f"in model {model.name!r} the layers after {gap.name!r} "
        "(dropout aside) are not one Dense classifier "
        "ending the model: CAM needs GAP -> Dense; use grad_cam instead"
    )


def _default_target(model: keras.Model) -> tuple[keras.layers.Layer, str]:
    """Where Grad-CAM looks by default: the input of
    the (last) GAP layer, else the last spatial output."""
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
    raise ValueError(
        f"model {model.name!r} has no layer with (N, t, C) or (N, h, "
        "w, C) outputs: name one with layer_name"
    )


@contextmanager
def _tapped(*layers):
    """Record each layer's (first positional) input and
    its output whenever it is called, eager or traced.

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
    """``last``'s tapped call ({"input", "output"}) -> class logits, when the model ends in a
    softmax/sigmoid Dense layer or a pooled class-map head, else None.

    A single logit (a sigmoid unit, a pooled head) gives two scores: (-z, z) for classes 0 and 1.
    """
    if isinstance(last, PoolClassMap):  # its output is the logit
        return lambda call: tf.concat([-call["output"], call["output"]], axis=-1)
    activation = getattr(last, "activation", None)
    if not (
        isinstance(last, keras.layers.Dense)
        and activation in (keras.activations.softmax, keras.activations.sigmoid)
    ):
        return None
    kernel, bias = last.kernel, last.bias

    def logits(call):
        z = tf.matmul(tf.cast(call["input"], kernel.dtype), kernel)
        z = z if bias is None else z + bias
        return (
            tf.concat([-z, z], axis=-1)
            if activation is keras.activations.sigmoid and z.shape[-1] == 1
            else z
        )

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


def class_activation_maps(
    model: keras.Model, inputs, class_index=None, batch_size: int = 32
) -> np.ndarray:
    """CAM: the feature maps at GAP's input weighted by the classifier's kernel column of the class.

    ``inputs``: an array (N, ...) or a tf.data set of batches (images or (images, labels)).
    ``class_index``: None (the predicted class), an int, or one int per sample.
    Returns (N, h, w) for 2-D feature maps or (N, t) for 1-D ones, raw: their mean over
    positions plus the dense bias is the class logit.
    """
    step = _cached(model, ("cam",), lambda: _cam_step(model))
    return _run(step, inputs, class_index, batch_size)


def weighted_maps(maps, columns):
    """The CAM formula: feature maps (N, ..., C) weighted
    by one kernel column per sample (N, C), summed over C."""
    return keras.ops.einsum("n...c,nc->n...", maps, columns)


def cams_from_maps(
    maps: np.ndarray, kernel: np.ndarray, class_index: int | np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """CAMs from feature maps computed once: (N, h, w) or (N,
    t), ``maps`` times the classifier's kernel column(s).

    ``kernel`` is the dense classifier's (C, K) kernel;
    ``class_index`` one class for all maps or one per map.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    classes = np.broadcast_to(np.asarray(class_index), (len(maps),))
    chunks = [
        np.asarray(
            weighted_maps(
                maps[start : start + batch_size].astype(np.float32),
                kernel[:, classes[start : start + batch_size]].T,
            )
        )
        for start in range(0, len(maps), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, *maps.shape[1:-1]), np.float32)


def contrast_cams(
    maps: np.ndarray, kernel: np.ndarray, class_index: int | np.ndarray
) -> np.ndarray:
    """CAMs of evidence *for* a class against the others:
    its CAM minus the mean CAM of the other classes.

    For two classes this is the map whose average is the logit
    difference, so its peak is where the decision is made.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    n_classes = kernel.shape[1]
    contrast = (kernel - kernel.mean(axis=1, keepdims=True)) * (n_classes / (n_classes - 1))
    return cams_from_maps(maps, contrast, class_index)


def _pooled_class_map(model: keras.Model) -> keras.layers.Layer | None:
    """The ``class_map`` layer of a model that ends in a pooled class-map head, else None."""
    layers = _graph_layers(model)
    if isinstance(layers[-1], PoolClassMap):
        return next(layer for layer in layers if layer.name == "class_map")
    return None


def _class_map_step(model: keras.Model, class_map: keras.layers.Layer) -> Callable:
    @tf.function(reduce_retracing=True)
    def step(x, classes):
        with _tapped(class_map) as (at_map,):
            logit = model(x, training=False)
        scores = tf.cast(at_map["output"][..., 0], tf.float32)  # evidence for class 1
        classes = tf.where(classes < 0, tf.cast(logit[:, 0] > 0, tf.int32), classes)
        sign = tf.cast(2 * classes - 1, tf.float32)
        return scores * tf.reshape(sign, [-1] + [1] * (len(scores.shape) - 1))

    return step


def _cam_step(model: keras.Model) -> Callable:
    class_map = _pooled_class_map(model)
    if class_map is not None:
        return _class_map_step(model, class_map)
    gap, dense = gap_head(model)

    @tf.function(reduce_retracing=True)
    def step(x, classes):
        kernel = tf.convert_to_tensor(dense.kernel)
        bias = (
            tf.zeros(kernel.shape[-1], kernel.dtype)
            if dense.bias is None
            else tf.convert_to_tensor(dense.bias)
        )
        with _tapped(gap) as (at_gap,):
            model(x, training=False)
        maps = tf.cast(at_gap["input"], kernel.dtype)  # (n, ..., C)
        spatial = list(range(1, len(maps.shape) - 1))
        logits = tf.matmul(tf.reduce_mean(maps, axis=spatial), kernel) + bias
        classes = tf.where(classes < 0, tf.cast(tf.argmax(logits, axis=-1), tf.int32), classes)
        # columns (n, C)
        return weighted_maps(maps, tf.transpose(tf.gather(kernel, classes, axis=1)))

    return step


def grad_cam(
    model: keras.Model,
    inputs,
    layer_name: str | None = None,
    class_index=None,
    batch_size: int = 32,
) -> np.ndarray:
    """Grad-CAM of any layer with (N, h, w, C) or (N, t, C) outputs, nested sub-models included.

    The channels of ``layer_name`` (default: the feature maps feeding GAP, else the last
    spatial layer) are weighted by the mean gradient of the class score, which is the
    pre-softmax logit when the model ends in a softmax/sigmoid Dense layer.
    Returns raw maps (no ReLU): (N, h, w) or (N, t). ``class_index`` as in CAM.
    """
    step = _cached(model, ("grad_cam", layer_name), lambda: _grad_cam_step(model, layer_name))
    return _run(step, inputs, class_index, batch_size)


def _grad_cam_step(model: keras.Model, layer_name: str | None) -> Callable:
    target, where = (
        (find_layer_path(model, layer_name)[-1], "output") if layer_name else _default_target(model)
    )
    last = _final_layer(model)
    to_logits = _logits_from(last)

    @tf.function(reduce_retracing=True)
    def step(x, classes):
        with tf.GradientTape() as tape:
            tape.watch(x)
            with _tapped(target, last) as (at_target, at_last):
                output = model(x, training=False)
            activation = at_target[where]
            scores = output if to_logits is None else to_logits(at_last)
            score = _pick(tf.cast(scores, tf.float32), classes)
        gradients = tape.gradient(score, activation)
        spatial = list(range(1, len(activation.shape) - 1))
        weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=spatial, keepdims=True)
        return tf.reduce_sum(tf.cast(activation, tf.float32) * weights, axis=-1)

    return step


def _cached(model: keras.Model, key: tuple, build: Callable[[], Callable]) -> Callable:
    """The model's compiled step for ``key``, built once: repeated calls reuse its traced function.

    Kept on the model itself (outside Keras' attribute
    tracking), so it lives and dies with the model.
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
        classes = _class_vector(class_index, start, n)
        if 0 < n < batch_size:  # pad the last batch: one traced shape for every call
            batch = tf.concat([batch, tf.repeat(batch[-1:], batch_size - n, axis=0)], axis=0)
            classes = np.concatenate([classes, np.repeat(classes[-1:], batch_size - n)])
        chunks.append(np.asarray(step(batch, tf.constant(classes)), dtype=np.float32)[:n])
        start += n
    if not chunks:
        raise ValueError("no inputs")
    return np.concatenate(chunks)
