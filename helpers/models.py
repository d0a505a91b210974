"""Classifiers built on a backbone: global average pooling (GAP) -> dropout -> one dense layer.

The dense layer follows GAP directly (dropout is the identity at inference),
which is what makes class activation maps possible (``helpers.cam``).

Fine-tuning on a CPU is made affordable by cutting the model in two at a
backbone layer (``split_at``): the frozen lower part is run once per image
(and augmentation view) and its feature maps cached; the upper part, which
shares its layers with the full model, is trained on those maps. Training
the upper part trains the full model.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.backbones import build_backbone

#: Where notebook 03's recipe cuts each backbone: layers above this one are fine-tuned.
#: For MobileNetV2 that is the last 14x14 block's output: blocks 13-16 and ``Conv_1`` are trained.
FINE_TUNE_FROM: dict[str, str] = {"mobilenet_v2": "block_12_add"}


def build_gap_classifier(
    n_classes: int,
    backbone: str = "mobilenet_v2",
    image_size: int = 224,
    *,
    dropout: float = 0.2,
    weights: str | None = "imagenet",
) -> keras.Model:
    """A flat model: RGB [0, 255] -> backbone feature maps -> ``gap`` -> ``dropout`` -> ``classifier`` (softmax).

    The backbone's layers start frozen (``trainable=False``); see ``unfreeze_top``.
    """
    features = build_backbone(backbone, image_size, pooling=None, weights=weights)
    for layer in features.layers:
        layer.trainable = False
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(features.output)
    dropped = keras.layers.Dropout(dropout, name="dropout")(pooled)
    probabilities = keras.layers.Dense(n_classes, activation="softmax", name="classifier", dtype="float32")(dropped)
    return keras.Model(features.input, probabilities, name=f"{backbone}_gap_classifier")


def backbone_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers between the input and ``gap`` (the backbone part of a GAP classifier)."""
    names = [layer.name for layer in model.layers]
    return model.layers[1 : names.index("gap")]


def unfreeze_top(model: keras.Model, n_layers: int) -> None:
    """Make the top ``n_layers`` backbone layers trainable, keeping BatchNormalization frozen.

    Frozen BatchNorm layers run in inference mode in Keras 3, so their
    ImageNet statistics survive fine-tuning on a small data set. Recompile after.
    """
    layers = backbone_layers(model)
    for index, layer in enumerate(layers):
        top = index >= len(layers) - n_layers
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


def layers_above(model: keras.Model, layer_name: str) -> int:
    """How many backbone layers come after ``layer_name`` (the ``n_layers`` that ``unfreeze_top`` takes)."""
    names = [layer.name for layer in backbone_layers(model)]
    if layer_name not in names:
        raise ValueError(f"{layer_name!r} is not a backbone layer of {model.name}")
    return len(names) - 1 - names.index(layer_name)


def freeze_all(model: keras.Model) -> None:
    """Freeze every backbone layer (the head stays trainable): stage 1 of the recipe."""
    for layer in backbone_layers(model):
        layer.trainable = False
    for name in ("dropout", "classifier"):
        model.get_layer(name).trainable = True


def split_at(model: keras.Model, layer_name: str) -> tuple[keras.Model, keras.Model]:
    """Cut a GAP classifier after ``layer_name``: (lower, upper), sharing their layers with ``model``.

    ``lower`` maps images to that layer's output; ``upper`` maps those feature
    maps to class probabilities (through the same ``gap``, ``dropout`` and
    ``classifier`` layers). ``upper(lower(x))`` equals ``model(x)``, and
    training ``upper`` changes ``model``'s weights.
    """
    cut = model.get_layer(layer_name).output
    lower = keras.Model(model.input, cut, name=f"{model.name}_lower")
    upper = keras.Model(cut, model.output, name=f"{model.name}_upper")
    return lower, upper


def head_model(model: keras.Model) -> keras.Model:
    """The head alone: pooled features (N, D) -> ``dropout`` -> ``classifier``, sharing weights with ``model``.

    Training it is training ``model``'s head with the backbone frozen, on
    features computed once: a multinomial logistic regression with dropout.
    """
    classifier = model.get_layer("classifier")
    dimension = model.get_layer("gap").output.shape[-1]
    inputs = keras.Input((dimension,), name="pooled_features")
    outputs = classifier(model.get_layer("dropout")(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_head")


def set_linear_head(model: keras.Model, coef: np.ndarray, intercept: np.ndarray, *,
                    mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
    """Load a fitted linear model on the pooled features into ``model``'s ``classifier``.

    ``coef`` (K, D) and ``intercept`` (K,) as scikit-learn's ``LogisticRegression``
    stores them; a binary fit (1, D) becomes two softmax logits whose difference is
    its decision function. ``mean``/``scale``: the standardization the linear model
    was fitted after, folded into the weights. The model's softmax then gives the
    linear model's ``predict_proba``.
    """
    coef, intercept = np.atleast_2d(np.asarray(coef, np.float64)), np.atleast_1d(np.asarray(intercept, np.float64))
    classifier = model.get_layer("classifier")
    dimension, n_classes = classifier.kernel.shape
    if coef.shape[1] != dimension:
        raise ValueError(f"coef has {coef.shape[1]} features but the classifier takes {dimension}")
    if mean is not None or scale is not None:
        mean = np.zeros(dimension) if mean is None else np.asarray(mean, np.float64)
        scale = np.ones(dimension) if scale is None else np.asarray(scale, np.float64)
        coef = coef / scale
        intercept = intercept - coef @ mean
    if coef.shape[0] == 1 and n_classes == 2:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.r_[-intercept / 2, intercept / 2]
    if coef.shape[0] != n_classes:
        raise ValueError(f"coef has {coef.shape[0]} classes but the classifier has {n_classes}")
    classifier.set_weights([coef.T.astype(np.float32), intercept.astype(np.float32)])
