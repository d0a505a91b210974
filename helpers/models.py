"""Classifiers built on a backbone: global average pooling (GAP) -> dropout -> one dense layer.

The dense layer follows GAP directly (dropout is the identity at inference),
which is what makes class activation maps possible (``helpers.cam``).
"""

from __future__ import annotations

import keras

from helpers.backbones import build_backbone


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
