"""GAP classifiers: feature maps -> global average pooling
-> dropout -> one dense softmax layer, and their anatomy.

The dense layer follows GAP directly (dropout is the identity at inference), which is what makes
class activation maps possible (``helpers.explain.cam``). Notebook 03 writes this model in plain
Keras; these are the same steps for the notebooks that reuse it (04's mosaic model, 06's heads on
cached feature maps).
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.models.backbones import build_backbone


def add_gap_head(feature_maps, n_classes: int, dropout: float = 0.2):
    """``gap`` -> ``dropout`` -> ``classifier`` (softmax, float32
    output) on a feature-map tensor; returns the outputs."""
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(feature_maps)
    dropped = keras.layers.Dropout(dropout, name="dropout")(pooled)
    return keras.layers.Dense(n_classes, activation="softmax", name="classifier", dtype="float32")(
        dropped
    )


def build_gap_classifier(
    n_classes: int,
    backbone: str = "mobilenet_v2",
    image_size: int = 224,
    *,
    dropout: float = 0.2,
    weights: str | None = "imagenet",
) -> keras.Model:
    """A flat model: RGB [0, 255] -> backbone feature
    maps -> GAP head. The backbone's layers start frozen."""
    features = build_backbone(backbone, image_size, pooling=None, weights=weights)
    for layer in features.layers:
        layer.trainable = False
    return keras.Model(
        features.input,
        add_gap_head(features.output, n_classes, dropout),
        name=f"{backbone}_gap_classifier",
    )


def build_gap_head(
    maps_shape: tuple[int, ...], n_classes: int, dropout: float = 0.2
) -> keras.Model:
    """The GAP head alone, on feature maps of shape
    ``maps_shape`` (h, w, C): the model to train on cached maps."""
    inputs = keras.Input(maps_shape, name="feature_maps")
    return keras.Model(inputs, add_gap_head(inputs, n_classes, dropout), name="gap_head")


#: the first layer of each head this package builds: GAP -> Dense, or a pooled class map
HEAD_STARTS = ("gap", "class_map", "attention_hidden")


def backbone_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers between the input and the head (the backbone part of a GAP or pooled
    classifier)."""
    names = [layer.name for layer in model.layers]
    return model.layers[1 : min(names.index(name) for name in HEAD_STARTS if name in names)]


def unfreeze_above(model: keras.Model, layer_name: str) -> int:
    """Make the backbone layers after ``layer_name`` trainable, BatchNormalization excepted (frozen
    BatchNorm runs in inference mode in Keras 3, so its ImageNet statistics survive); the rest stays
    frozen. Returns how many layers are above. Recompile after."""
    layers = backbone_layers(model)
    names = [layer.name for layer in layers]
    if layer_name not in names:
        raise ValueError(f"{layer_name!r} is not a backbone layer of {model.name}")
    cut = names.index(layer_name)
    for index, layer in enumerate(layers):
        layer.trainable = index > cut and not isinstance(layer, keras.layers.BatchNormalization)
    return len(layers) - 1 - cut


def split_at(model: keras.Model, layer_name: str) -> tuple[keras.Model, keras.Model]:
    """Cut a GAP classifier after ``layer_name``:
    (lower, upper), sharing their layers with ``model``.

    ``upper(lower(x))`` equals ``model(x)``, and training ``upper`` changes ``model``'s weights.
    """
    cut = model.get_layer(layer_name).output
    lower = keras.Model(model.input, cut, name=f"{model.name}_lower")
    upper = keras.Model(cut, model.output, name=f"{model.name}_upper")
    return lower, upper


def pooling_part(model: keras.Model, layer_name: str) -> keras.Model:
    """The layers from ``layer_name``'s output up to
    ``gap``'s: cached feature maps in, pooled features out."""
    return keras.Model(
        model.get_layer(layer_name).output,
        model.get_layer("gap").output,
        name=f"{model.name}_pooling",
    )


def set_linear_head(
    model: keras.Model,
    coef: np.ndarray,
    intercept: np.ndarray,
    *,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> None:
    """Load a fitted linear model on the pooled features into ``model``'s ``classifier``.

    ``coef`` (K, D) and ``intercept`` (K,) as scikit-learn's ``LogisticRegression`` stores them; a
    binary fit (1, D) becomes two softmax logits whose difference is its decision function.
    ``mean``/``scale``: the standardization the linear model was fitted after, folded into the
    weights. The model's softmax then gives the linear model's ``predict_proba``.
    """
    coef, intercept = (
        np.atleast_2d(np.asarray(coef, np.float64)),
        np.atleast_1d(np.asarray(intercept, np.float64)),
    )
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


def predict_in_batches(model: keras.Model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``model``'s outputs for a large array, called directly batch by batch (no ``predict``
    function to trace for every new model, which a loop over many small models would otherwise
    retrace)."""
    return np.concatenate(
        [
            np.asarray(model(np.asarray(X[i : i + batch_size], np.float32), training=False))
            for i in range(0, len(X), batch_size)
        ]
    )


def linear_gap_classifier(
    dataset,
    indices: np.ndarray,
    image_size: int = 224,
    *,
    C: float = 0.1,
    runtime: str | None = "auto",
) -> keras.Model:
    """A GAP classifier on the frozen ImageNet MobileNetV2 whose head is a logistic regression
    fitted on the pooled features of ``dataset[indices]`` (notebook 03's stage 1, in one call)."""
    from sklearn.linear_model import LogisticRegression

    from helpers.models.features import featurize

    features = featurize(dataset, indices, image_size=image_size, runtime=runtime)
    mean, scale = features.X.mean(axis=0), features.X.std(axis=0) + 1e-6
    logistic = LogisticRegression(C=C, max_iter=3000).fit((features.X - mean) / scale, features.y)
    model = build_gap_classifier(len(dataset.class_names), "mobilenet_v2", image_size)
    set_linear_head(model, logistic.coef_, logistic.intercept_, mean=mean, scale=scale)
    return model
