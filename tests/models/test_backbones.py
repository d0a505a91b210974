"""Backbones as flat models with their own preprocessing:
shapes, layers, modes, saving, clear errors."""

import keras
import numpy as np
import pytest

from helpers.models.backbones import ImagePreprocessing, build_backbone
from helpers.models.imagenet import WeightsUnavailableError


def test_keras_weights_download_failure_names_the_fix(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError, match="python data_download.py weights:resnet50"):
        build_backbone("resnet50", 64)


def test_flat_graph_with_feature_maps_and_intermediate_layers():
    maps = build_backbone("mobilenet_v2", 96, pooling=None)
    pooled = build_backbone("mobilenet_v2", 96, layer="block_13_expand_relu")
    assert maps.output_shape == (None, 3, 3, 1280)
    assert pooled.output_shape == (None, 576)
    assert not any(isinstance(layer, keras.Model) for layer in maps.layers)
    assert maps.layers[1].name == "preprocessing" and maps.layers[1].mode == "torch"
    batch_norms = [
        layer for layer in maps.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert batch_norms and all(layer.epsilon == 1e-5 for layer in batch_norms)


def test_unknown_backbone_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown backbone 'resnet9000'"):
        build_backbone("resnet9000")
    with pytest.raises(ValueError, match="pooling"):
        build_backbone("mobilenet_v2", pooling="max")
    with pytest.raises(ValueError, match="include_top"):
        build_backbone("mobilenet_v2", 96, include_top=True)


@pytest.mark.parametrize(
    "mode, expected",
    [
        (
            "torch",
            [(0 - 0.485) / 0.229, (255 / 255 - 0.456) / 0.224, (127.5 / 255 - 0.406) / 0.225],
        ),
        ("tf", [-1.0, 1.0, 0.0]),
        ("caffe", [127.5 - 103.939, 255 - 116.779, 0 - 123.68]),
        ("none", [0.0, 255.0, 127.5]),
    ],
)
def test_preprocessing_modes(mode, expected):
    pixel = np.array([[[[0.0, 255.0, 127.5]]]], dtype="float32")
    np.testing.assert_allclose(
        np.asarray(ImagePreprocessing(mode)(pixel))[0, 0, 0], expected, rtol=1e-5
    )


@pytest.mark.slow
def test_backbone_with_its_preprocessing_survives_save_and_load(tmp_path):
    model = build_backbone("mobilenet_v2", 64, weights=None)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    model.save(tmp_path / "backbone.keras")
    reloaded = keras.models.load_model(tmp_path / "backbone.keras")
    np.testing.assert_allclose(
        reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )
