"""Pooled class-map heads: feature maps -> a per-position class score -> a pooling over positions.

Every head here keeps the class map exact: a 1x1 convolution (the dense layer applied at each
position) scores every position, and a pooling function turns the scores into the image's logit.
The class map *is* the model's evidence whatever the pooling: with the mean it is GAP -> Dense's
CAM, with the max only the strongest position counts. The pooling functions themselves are written
in notebook 04 (a few ``keras.ops`` lines each); ``helpers.explain.cam.class_activation_maps``
returns the class map of these models; this module builds, fine-tunes and scores models
around any of them, and chooses between them on validation data only.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.models.gap import predict_in_batches
from helpers.report.results import result_key

#: one logit per image from the class map (n, h, w) [and attention logits (n, h, w)]
Pooling = Callable[..., object]


@keras.saving.register_keras_serializable(package="helpers")
class PoolClassMap(keras.layers.Layer):
    """Pool a class map (n, h, w, 1) to one logit per image (n, 1) with a ``keras.ops`` function
    of the scores (n, h, w), and of the attention logits (n, h, w) when they are given."""

    def __init__(self, pooling: Pooling, **kwargs):
        super().__init__(**kwargs)
        self.pooling = pooling

    def call(self, class_map, attention_logits=None):
        scores = class_map[..., 0]
        pooled = (
            self.pooling(scores)
            if attention_logits is None
            else self.pooling(scores, attention_logits[..., 0])
        )
        return keras.ops.expand_dims(pooled, -1)


def add_pooled_head(feature_maps, pooling: Pooling, *, attention_units: int = 0):
    """``class_map`` (a 1x1 convolution to one score per position) -> ``pooling``; with
    ``attention_units``, a tanh layer of that width scores each position's attention logit too
    (attention MIL) and the pooling receives both. Returns the logit tensor (n, 1), float32."""
    class_map = keras.layers.Conv2D(1, 1, name="class_map", dtype="float32")(feature_maps)
    inputs = [class_map]
    if attention_units:
        hidden = keras.layers.Conv2D(
            attention_units, 1, activation="tanh", name="attention_hidden", dtype="float32"
        )(feature_maps)
        inputs.append(keras.layers.Conv2D(1, 1, name="attention", dtype="float32")(hidden))
    return PoolClassMap(pooling, name="pooling", dtype="float32")(*inputs)


def pooled_classifier(
    gap_classifier: keras.Model, pooling: Pooling, *, attention_units: int = 0
) -> keras.Model:
    """``gap_classifier``'s backbone (its layers shared, not copied) with a pooled class-map head in
    place of GAP -> Dense: image in, one logit out (class 1 against class 0)."""
    maps = gap_classifier.get_layer("gap").input
    logit = add_pooled_head(maps, pooling, attention_units=attention_units)
    return keras.Model(gap_classifier.input, logit, name=f"{gap_classifier.name}_pooled")


def set_class_map(model: keras.Model, coef: np.ndarray, intercept: float) -> None:
    """Start ``class_map`` from a linear scorer of the feature channels: ``coef`` (C,) or (1, C)
    and ``intercept``, e.g. a logistic regression fitted on GAP features (already folded with
    their standardization)."""
    coef = np.asarray(coef, np.float32).reshape(-1)
    layer = model.get_layer("class_map")
    layer.set_weights([coef.reshape(1, 1, -1, 1), np.array([intercept], np.float32)])


def logits(model: keras.Model, inputs: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """One logit per input (n,)."""
    return predict_in_batches(model, inputs, batch_size)[:, 0]


def training_batches(
    maps: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, *, flips: bool = True
) -> tf.data.Dataset:
    """One shuffled epoch of cached feature maps, cast to float32 batch by batch; with ``flips``,
    each map flipped left-right and up-down at random.

    A flip of the maps of a mosaic is (nearly) the maps of the flipped mosaic: the model sees the
    target and the backbone's one-sided zero padding in every corner, so no corner is special.
    """

    def flip(step, batch):
        x, y = batch
        left_right, up_down = tf.unstack(
            tf.random.stateless_uniform(
                [2, tf.shape(x)[0], 1, 1, 1], seed=tf.stack([tf.constant(seed, tf.int64), step])
            )
            < 0.5
        )
        x = tf.where(left_right, tf.reverse(x, [2]), x)
        return tf.where(up_down, tf.reverse(x, [1]), x), y

    order = np.random.default_rng(seed).permutation(len(maps))
    data = tf.data.Dataset.from_tensor_slices((maps[order], labels[order].astype("float32")))
    data = data.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    return data.enumerate().map(flip) if flips else data


def fine_tune(
    upper: keras.Model,
    maps: np.ndarray,
    labels: np.ndarray,
    score: Callable[[keras.Model], dict],
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int = 32,
    flips: bool = True,
    seed: int = 0,
    keep_by: str = "validation AUC",
    warmup_epochs: int = 1,
) -> pd.DataFrame:
    """Fine-tune ``upper`` (cached maps in, one logit out) one epoch at a time and ``score`` it
    before the first epoch and after each (a dict per epoch, which must hold ``keep_by``).

    The learning rate rises linearly from zero over ``warmup_epochs`` (the head and the top blocks
    meet gently: no first-epoch collapse), then decays to zero along a cosine. The weights of the
    epoch with the highest ``keep_by`` (the earliest on a tie) are restored at the end. Returns
    the per-epoch table, with the kept epoch marked in its ``kept`` column.
    """
    steps_per_epoch = int(np.ceil(len(maps) / batch_size))
    warmup = steps_per_epoch * min(warmup_epochs, epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else learning_rate,
        max(1, epochs * steps_per_epoch - warmup),
        warmup_target=learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    upper.compile(
        keras.optimizers.Adam(schedule), keras.losses.BinaryCrossentropy(from_logits=True)
    )
    rows, best, kept = [score(upper)], upper.get_weights(), 0
    for epoch in range(1, epochs + 1):
        batches = training_batches(maps, labels, batch_size, seed + epoch, flips=flips)
        upper.fit(batches, epochs=1, shuffle=False, verbose=0)
        rows.append(score(upper))
        if rows[-1][keep_by] > rows[kept][keep_by]:
            best, kept = upper.get_weights(), epoch
    upper.set_weights(best)
    table = pd.DataFrame(rows).rename_axis("epoch")
    table["kept"] = table.index == kept
    return table


def choose_head(study: pd.DataFrame, by: str = "validation AUC") -> str:
    """The head whose kept models score the highest mean ``by`` over seeds.

    ``study``: one row per (head, seed) run with a ``head`` column; only ``by`` is read, so the
    choice cannot depend on test labels or locations.
    """
    means = study.groupby("head", sort=False)[by].mean()
    return str(means.idxmax())


def study_results(study: pd.DataFrame, columns: dict[str, str]) -> dict[str, float]:
    """Flat results of a study: ``pooling_<head>_<key>_mean`` and ``_sd`` over seeds for each
    ``columns`` entry {column: key}; ``study`` holds one row per (head, seed) run."""
    summary = study.groupby("head", sort=False)[list(columns)].agg(["mean", "std"])
    return {
        f"pooling_{result_key(head)}_{key}_{stat.replace('std', 'sd')}": float(
            np.nan_to_num(row[column, stat])  # one seed: no spread
        )
        for head, row in summary.iterrows()
        for column, key in columns.items()
        for stat in ("mean", "std")
    }
