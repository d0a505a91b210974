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
on_cpu_only = pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")),
    reason="auto means TensorFlow where a GPU is visible",
)


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference over the largest absolute value of the reference."""
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (5, 96, 96, 3)).astype(np.float32)


@on_cpu_only
def test_the_cpu_runtimes_are_installed_and_auto_prefers_onnxruntime(monkeypatch):
    assert available_runtimes() == ["onnxruntime", "openvino", "tensorflow"]
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    assert resolve_runtime("auto") == "onnxruntime"
    monkeypatch.setenv(RUNTIME_ENV, "openvino")
    assert resolve_runtime("auto") == "openvino" and resolve_runtime("tensorflow") == "tensorflow"
    monkeypatch.setenv(RUNTIME_ENV, "tensorrt")
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'.*TL_RUNTIME"):
        resolve_runtime("auto")


@pytest.mark.parametrize("runtime", EXPORTED)
@pytest.mark.parametrize(
    "layer, pooling", [(None, "avg"), ("block_6_expand_relu", None), (None, None)]
)
def test_exported_runtimes_match_tensorflow_on_real_weights(runtime, layer, pooling, images):
    model = build_backbone("mobilenet_v2", 96, layer=layer, pooling=pooling)
    expected = FrozenNetwork(model, runtime="tensorflow")(images)
    got = FrozenNetwork(model, runtime=runtime, key=f"test-{layer}-{pooling}")(images)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert relative_difference(got, expected) < 1e-4


@on_cpu_only
def test_a_model_onnx_cannot_run_takes_the_next_runtime_under_auto(monkeypatch, images):
    """The lesson of notebook 03 normalizes with
    keras.layers.Normalization: tf2onnx makes its constants inputs."""
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
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


@pytest.mark.parametrize("runtime", EXPORTED)
def test_the_imagenet_check_names_the_cat_on_every_runtime(runtime):
    classifier = FrozenNetwork(
        build_backbone("mobilenet_v2", 224, include_top=True), runtime=runtime
    )
    assert imagenet_top_k(classifier, skimage_data.chelsea(), k=1)[0][0] == "Egyptian cat"
    assert imagenet_top_k(classifier, skimage_data.coffee(), k=1)[0][0] == "espresso"


def test_batches_of_any_size_and_predict_in_chunks(images):
    network = FrozenNetwork(
        build_backbone("mobilenet_v2", 96), runtime="openvino", key="test-chunks"
    )
    whole = network(images)
    np.testing.assert_allclose(network.predict(images, batch_size=2), whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(network(images[:1]), whole[:1], rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("damage", ["bit flip", "truncated", "empty manifest"])
def test_a_damaged_export_is_named_removed_and_rebuilt(damage, images):
    model = build_backbone("mobilenet_v2", 64)
    expected = FrozenNetwork(model, runtime="openvino", key=f"test-heal-{damage}")(
        images[:, :64, :64]
    )
    folder = cache_dir("runtimes") / f"test-heal-{damage}-openvino"
    weights = folder / "model.bin"
    payload = weights.read_bytes()
    if damage == "bit flip":
        weights.write_bytes(payload[:1000] + bytes([payload[1000] ^ 0xFF]) + payload[1001:])
    elif damage == "truncated":
        weights.write_bytes(payload[: len(payload) // 2])
    else:
        (folder / "manifest.json").write_text("")
    with pytest.warns(CacheWarning, match="exported model .*manifest.json is damaged"):
        healed = FrozenNetwork(model, runtime="openvino", key=f"test-heal-{damage}")
    np.testing.assert_allclose(healed(images[:, :64, :64]), expected, rtol=1e-6, atol=1e-7)
    assert weights.read_bytes() == payload


def test_the_export_is_reused_from_the_cache(images):
    model = build_backbone("mobilenet_v2", 64)
    FrozenNetwork(model, runtime="onnxruntime", key="test-reuse")
    exported = cache_dir("runtimes") / "test-reuse-onnxruntime" / "model.onnx"
    stamp = exported.stat().st_mtime_ns
    again = FrozenNetwork(model, runtime="onnxruntime", key="test-reuse", threads=1)
    assert exported.stat().st_mtime_ns == stamp and again.threads == 1
    assert "onnxruntime" in repr(again)
