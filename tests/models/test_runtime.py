"""Frozen networks on every installed runtime: TensorFlow's
numbers, a cached export that heals, explicit choices."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage import data as skimage_data

from helpers.models.backbones import build_backbone
from helpers.models.imagenet import imagenet_top_k
from helpers.models.runtime import RUNTIME_ENV, FrozenNetwork, available_runtimes, resolve_runtime
from helpers.paths import CacheWarning, cache_dir

EXPORTED = [name for name in available_runtimes() if name != "tensorflow"]


def visible_gpus(monkeypatch, count: int) -> None:
    """Make ``runtime="auto"`` see ``count`` GPUs (0: a CPU machine), whatever this machine has."""
    gpus = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(count)]
    listed = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda device_type=None: gpus if device_type == "GPU" else listed(device_type),
    )


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference over the largest absolute value of the reference."""
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (5, 96, 96, 3)).astype(np.float32)


def test_the_cpu_runtimes_are_installed_and_auto_prefers_onnxruntime(monkeypatch):
    assert available_runtimes() == ["onnxruntime", "openvino", "tensorflow"]
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    visible_gpus(monkeypatch, 0)
    assert resolve_runtime("auto") == "onnxruntime" and resolve_runtime(None) == "onnxruntime"
    monkeypatch.setenv(RUNTIME_ENV, "openvino")
    assert resolve_runtime("auto") == "openvino" and resolve_runtime("tensorflow") == "tensorflow"
    monkeypatch.setenv(RUNTIME_ENV, "tensorrt")
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'.*TL_RUNTIME"):
        resolve_runtime("auto")


def test_auto_means_tensorflow_where_a_gpu_is_visible(monkeypatch):
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    visible_gpus(monkeypatch, 1)
    assert resolve_runtime("auto") == "tensorflow"
    monkeypatch.setenv(RUNTIME_ENV, "openvino")  # the variable still wins
    assert resolve_runtime("auto") == "openvino"


@pytest.mark.parametrize("runtime", EXPORTED)
@pytest.mark.parametrize(
    "layer, pooling",
    [
        pytest.param(None, "avg", marks=pytest.mark.slow),
        ("block_6_expand_relu", None),  # the cheapest: a fast check of every exported runtime
        pytest.param(None, None, marks=pytest.mark.slow),
    ],
)
def test_exported_runtimes_match_tensorflow_on_real_weights(runtime, layer, pooling, images):
    model = build_backbone("mobilenet_v2", 96, layer=layer, pooling=pooling)
    expected = FrozenNetwork(model, runtime="tensorflow")(images)
    got = FrozenNetwork(model, runtime=runtime, key=f"test-{layer}-{pooling}")(images)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert relative_difference(got, expected) < 1e-4


def test_a_model_onnx_cannot_run_takes_the_next_runtime_under_auto(monkeypatch, images):
    """The lesson of notebook 03 normalizes with
    keras.layers.Normalization: tf2onnx makes its constants inputs."""
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    visible_gpus(monkeypatch, 0)  # auto would take TensorFlow where a GPU is visible
    inputs = keras.Input((96, 96, 3))
    scaled = keras.layers.Normalization(
        mean=[120.0, 110.0, 100.0], variance=[3600.0, 3500.0, 3400.0], name="scale"
    )(inputs)
    model = keras.Model(
        inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(scaled))
    )
    network = FrozenNetwork(model, key="test-normalization")
    assert network.runtime == "openvino"
    assert (
        relative_difference(network(images), FrozenNetwork(model, runtime="tensorflow")(images))
        < 1e-5
    )
    with pytest.raises(
        ValueError,
        match="ONNX export of .* would ask for the constants of scale as "
        "inputs.*runtime='openvino'",
    ):
        FrozenNetwork(model, runtime="onnxruntime", key="test-normalization")
    monkeypatch.setenv(RUNTIME_ENV, "auto")  # the variable set to auto still falls back
    assert FrozenNetwork(model, key="test-normalization").runtime == "openvino"


@pytest.mark.slow
@pytest.mark.parametrize("runtime", EXPORTED)
def test_the_imagenet_check_names_the_cat_on_every_runtime(runtime):
    classifier = FrozenNetwork(
        build_backbone("mobilenet_v2", 224, include_top=True), runtime=runtime
    )
    assert imagenet_top_k(classifier, skimage_data.chelsea(), k=1)[0][0] == "Egyptian cat"
    assert imagenet_top_k(classifier, skimage_data.coffee(), k=1)[0][0] == "espresso"


@pytest.mark.slow
def test_batches_of_any_size_and_predict_in_chunks(images):
    network = FrozenNetwork(
        build_backbone("mobilenet_v2", 96), runtime="openvino", key="test-chunks"
    )
    whole = network(images)
    np.testing.assert_allclose(network.predict(images, batch_size=2), whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(network(images[:1]), whole[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", EXPORTED)
def test_a_portable_network_serves_several_threads_at_once(runtime, images):
    """A Dask worker with two threads runs two partitions
    through one compiled network at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    network = FrozenNetwork(build_backbone("mobilenet_v2", 96), runtime=runtime, key="test-chunks")
    compiled = network.portable(threads=2).compile()
    batches = [np.roll(images, k, axis=0) for k in range(8)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(compiled, batches))
    for batch, output in zip(batches, together):
        np.testing.assert_allclose(output, network(batch), rtol=1e-5, atol=1e-6)


def small_model() -> keras.Model:
    """Two layers: its export takes a fraction of MobileNetV2's, and heals the same way."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 3))
    features = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))


def heals(key: str, damage_export, images) -> None:
    """An OpenVINO export under ``key`` survives ``damage_export(folder)``: named in a warning,
    removed and exported again, byte for byte."""
    model = small_model()
    expected = FrozenNetwork(model, runtime="openvino", key=key)(images)
    folder = cache_dir("runtimes") / f"{key}-openvino"
    payload = (folder / "model.bin").read_bytes()
    damage_export(folder)
    with pytest.warns(CacheWarning, match="exported model .*manifest.json is damaged"):
        healed = FrozenNetwork(model, runtime="openvino", key=key)
    np.testing.assert_allclose(healed(images), expected, rtol=1e-6, atol=1e-7)
    assert (folder / "model.bin").read_bytes() == payload


def test_a_damaged_export_is_named_removed_and_rebuilt(damaged, images):
    def damage_weights(folder):
        weights = folder / "model.bin"
        weights.write_bytes(damaged(weights.read_bytes()))

    heals(f"test-heal-{damaged.kind}", damage_weights, images[:, :64, :64])


def test_an_export_with_an_empty_manifest_is_rebuilt(images):
    heals(
        "test-heal-empty-manifest",
        lambda folder: (folder / "manifest.json").write_text(""),
        images[:, :64, :64],
    )


@pytest.mark.slow
def test_the_export_is_reused_from_the_cache(images):
    model = build_backbone("mobilenet_v2", 64)
    FrozenNetwork(model, runtime="onnxruntime", key="test-reuse")
    exported = cache_dir("runtimes") / "test-reuse-onnxruntime" / "model.onnx"
    stamp = exported.stat().st_mtime_ns
    again = FrozenNetwork(model, runtime="onnxruntime", key="test-reuse", threads=1)
    assert exported.stat().st_mtime_ns == stamp and again.threads == 1
    assert "onnxruntime" in repr(again)
