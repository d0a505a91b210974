"""ImageNet CNN backbones as flat Keras models that carry
their own preprocessing: raw RGB [0, 255] in, features out.

The graph is flat (no nested base model), so any layer can be read for class activation maps or
unfrozen for fine-tuning. ``mobilenet_v2`` resolves its ImageNet weights offline
(``helpers.models.imagenet``); every other ``keras.applications`` model loads ``weights="imagenet"``
from Keras' own cache or download.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from helpers.checks import suggest
from helpers.models.imagenet import (
    TORCH_MEAN,
    TORCH_STD,
    WEIGHTS_SHA256,
    WeightsUnavailableError,
    converted_weights_path,
    load_imagenet_weights,
    use_torch_batchnorm_epsilon,
)

#: name -> (keras.applications constructor, preprocessing
#: mode, weights file Keras caches without and with the top)
KERAS_APPLICATIONS: dict[str, tuple[str, str, tuple[str, str]]] = {
    # offline: torchvision's weights
    "mobilenet_v2": ("MobileNetV2", "torch", ("mobilenet_v2_imagenet.weights.h5",) * 2),
    "mobilenet": ("MobileNet", "tf", ("mobilenet_1_0_224_tf_no_top.h5", "mobilenet_1_0_224_tf.h5")),
    "mobilenet_v3_small": (
        "MobileNetV3Small",
        "none",
        (
            "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            "weights_mobilenet_v3_small_224_1.0_float.h5",
        ),
    ),
    "mobilenet_v3_large": (
        "MobileNetV3Large",
        "none",
        (
            "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            "weights_mobilenet_v3_large_224_1.0_float.h5",
        ),
    ),
    "resnet50": (
        "ResNet50",
        "caffe",
        (
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "resnet50_v2": (
        "ResNet50V2",
        "tf",
        (
            "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "vgg16": (
        "VGG16",
        "caffe",
        (
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "vgg19": (
        "VGG19",
        "caffe",
        (
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "densenet121": (
        "DenseNet121",
        "torch",
        (
            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "inception_v3": (
        "InceptionV3",
        "tf",
        (
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "xception": (
        "Xception",
        "tf",
        (
            "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "xception_weights_tf_dim_ordering_tf_kernels.h5",
        ),
    ),
    "efficientnet_b0": ("EfficientNetB0", "none", ("efficientnetb0_notop.h5", "efficientnetb0.h5")),
    "efficientnet_v2_b0": (
        "EfficientNetV2B0",
        "none",
        ("efficientnetv2-b0_notop.h5", "efficientnetv2-b0.h5"),
    ),
    "convnext_tiny": ("ConvNeXtTiny", "none", ("convnext_tiny_notop.h5", "convnext_tiny.h5")),
}
#: size in MB of each model with its ImageNet head
#: (keras.io/api/applications table; MobileNetV3 estimated from parameters)
WEIGHT_MEGABYTES = {
    "mobilenet_v2": 14,
    "mobilenet": 16,
    "mobilenet_v3_small": 10,
    "mobilenet_v3_large": 22,
    "resnet50": 98,
    "resnet50_v2": 98,
    "vgg16": 528,
    "vgg19": 549,
    "densenet121": 33,
    "inception_v3": 92,
    "xception": 88,
    "efficientnet_b0": 29,
    "efficientnet_v2_b0": 29,
    "convnext_tiny": 109,
}
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="helpers")
class ImagePreprocessing(keras.layers.Layer):
    """Map RGB pixels in [0, 255] to what a backbone's weights expect.

    Modes: ``torch`` (scale to [0, 1], ImageNet mean/std), ``tf`` (scale to [-1, 1]), ``caffe`` (RGB
    to BGR, subtract the ImageNet mean) and ``none`` (the model rescales itself).
    """

    def __init__(self, mode: str = "torch", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("torch", "tf", "caffe", "none"):
            raise ValueError(f"unknown preprocessing mode {mode!r}: use torch, tf, caffe or none")
        self.mode = mode

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype)
        if self.mode == "torch":
            mean = keras.ops.convert_to_tensor(TORCH_MEAN, dtype=self.compute_dtype)
            std = keras.ops.convert_to_tensor(TORCH_STD, dtype=self.compute_dtype)
            return (images / 255.0 - mean) / std
        if self.mode == "tf":
            return images / 127.5 - 1.0
        if self.mode == "caffe":
            mean = keras.ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)
            return keras.ops.flip(images, axis=-1) - mean
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def check_backbone(name: str) -> None:
    """Raise a ``ValueError`` naming the known backbones when ``name`` is not one."""
    if name not in KERAS_APPLICATIONS:
        raise ValueError(
            f"unknown backbone {name!r}{suggest(name, list(KERAS_APPLICATIONS))}: "
            f"choose one of {sorted(KERAS_APPLICATIONS)}"
        )


def build_backbone(
    name: str = "mobilenet_v2",
    image_size: int = 224,
    *,
    include_top: bool = False,
    pooling: str | None = "avg",
    layer: str | None = None,
    weights: str | None = "imagenet",
) -> keras.Model:
    """Build ``name`` as one flat model: raw RGB [0,
    255] in, features (or ImageNet probabilities) out.

    ``pooling="avg"`` ends in global average pooling (an (N, D) output); ``pooling=None`` returns
    the last feature maps. ``layer`` names an intermediate layer to read instead of the last one
    (pooled the same way). ``weights=None`` gives random weights, for tests of shapes only.
    """
    check_backbone(name)
    if pooling not in ("avg", None):
        raise ValueError(f"pooling must be 'avg' or None, not {pooling!r}")
    if include_top and (layer is not None or image_size != 224):
        raise ValueError(
            "include_top=True gives ImageNet predictions: use image_size=224 and no layer"
        )
    constructor, mode, _ = KERAS_APPLICATIONS[name]
    inputs = keras.Input((image_size, image_size, 3), name="rgb_0_255")
    preprocessed = ImagePreprocessing(mode, name="preprocessing")(inputs)
    keras_weights = weights if name != "mobilenet_v2" else None
    options = (
        {"include_preprocessing": False}
        if mode == "none" and "EfficientNetV2" in constructor
        else {}
    )
    try:
        base = getattr(keras.applications, constructor)(
            input_tensor=preprocessed,
            include_top=include_top,
            weights=keras_weights,
            pooling=None,
            **options,
        )
    except Exception as error:  # keras raises plain Exceptions on failed downloads
        if keras_weights is None:
            raise
        raise WeightsUnavailableError(
            f"ImageNet weights for {name} could not be downloaded ({error}); "
            "on a connected machine run "
            f"`python data_download.py weights:{name}` to cache them, "
            "or use name='mobilenet_v2', whose weights resolve offline."
        ) from error
    if name == "mobilenet_v2" and weights == "imagenet":
        load_imagenet_weights(base)
    elif name == "mobilenet_v2":
        use_torch_batchnorm_epsilon(base)
    outputs = layer_output(base, name, layer)
    if not include_top and pooling == "avg":
        outputs = keras.layers.GlobalAveragePooling2D(name="gap")(outputs)
    return keras.Model(
        inputs, outputs, name=f"{name}_{'classifier' if include_top else 'features'}"
    )


def layer_output(model: keras.Model, backbone: str, layer: str | None):
    """The output of ``model``'s layer named ``layer`` (None:
    the model's own output), or an error naming the fix."""
    try:
        return model.output if layer is None else model.get_layer(layer).output
    except ValueError:
        raise ValueError(
            f"{backbone} has no layer named {layer!r}: "
            f"see [l.name for l in build_backbone({backbone!r}).layers]"
        ) from None


def weights_fingerprint(name: str, weights: str | None = "imagenet") -> str:
    """A short id of the weights behind ``name``, for cache keys."""
    if weights is None:
        return "random"
    if name == "mobilenet_v2":
        return f"torchvision-{WEIGHTS_SHA256[:12]}"
    return f"keras-{weights}-{keras.__version__}"


def keras_models_dir() -> Path:
    """Where ``keras.utils.get_file`` caches application
    weights ($KERAS_HOME/models or ~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def cached_weights(name: str) -> Path:
    """Where the ImageNet weights of ``name`` (without its top) are cached once fetched."""
    check_backbone(name)
    return (
        converted_weights_path()
        if name == "mobilenet_v2"
        else keras_models_dir() / KERAS_APPLICATIONS[name][2][0]
    )


def prefetch_weights(name: str, include_top: bool = False) -> Path | None:
    """Build ``name`` with ImageNet weights so they are
    cached for offline use; return the cached file."""
    build_backbone(name, 224, include_top=False, pooling="avg", weights="imagenet")
    if include_top:
        build_backbone(name, 224, include_top=True, pooling=None, weights="imagenet")
    path = cached_weights(name)
    return path if path.exists() else None
