"""Tests of helpers.estimators.CNNFeaturizer: scikit-learn
API checks, arrays vs files, caching, pipelines."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks

from helpers.data.datasets import ImageDataset
from helpers.models.estimators import CNNFeaturizer, images_to_dataset
from helpers.paths import cache_dir

SIZE = 32  # the smallest input MobileNetV2 takes: fast enough for unit tests

# scikit-learn's generic checks that apply to a transformer whose
# input is images, not 2-D tables. The others feed 2-D numeric tables,
# which CNNFeaturizer rejects by design (it raises a ValueError).
API_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
    "check_transformers_unfitted",
    "check_get_feature_names_out_error",
]


def _images(n: int = 12, seed: int = 0) -> np.ndarray:
    """Two visibly different classes: dark images with
    a bright bar (label 1) or plain noise (label 0)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 80, size=(n, 40, 40), dtype=np.uint8)
    images[1::2, 15:25, :] = 250
    return images


@pytest.mark.parametrize("check", API_CHECKS)
def test_scikit_learn_api_checks(check):
    getattr(estimator_checks, check)("CNNFeaturizer", CNNFeaturizer(image_size=SIZE))


@pytest.mark.slow
def test_transform_arrays_shapes_names_and_determinism():
    images = _images()
    featurizer = CNNFeaturizer(image_size=SIZE, cache=False)
    assert featurizer.fit(images) is featurizer
    features = featurizer.transform(images)
    assert features.shape == (12, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 0
    # frozen: same images, same features
    assert np.array_equal(features, featurizer.transform(images))
    names = featurizer.get_feature_names_out()
    assert (
        len(names) == 1280
        and names[0] == "mobilenet_v2_gap_0"
        and names[-1] == "mobilenet_v2_gap_1279"
    )
    # fit_transform equals fit then transform; an RGB copy of a gray image gives the same features
    assert np.allclose(clone(featurizer).fit_transform(images), features)
    rgb = np.repeat(images[..., None], 3, axis=-1)
    assert np.allclose(featurizer.transform(rgb), features, atol=1e-5)


@pytest.mark.slow
def test_intermediate_layer_and_tta_change_the_output():
    images = _images(4)
    layer = CNNFeaturizer(image_size=SIZE, layer="block_13_expand_relu", cache=False).fit(images)
    assert layer.n_features_out_ == 576
    assert layer.get_feature_names_out()[0] == "mobilenet_v2_block_13_expand_relu_0"
    plain = CNNFeaturizer(image_size=SIZE, cache=False).fit_transform(images)
    tta = CNNFeaturizer(image_size=SIZE, tta_views=2, cache=False).fit_transform(images)
    assert tta.shape == plain.shape and not np.allclose(tta, plain)


@pytest.mark.slow
def test_file_paths_give_the_same_features_as_arrays(tmp_path):
    # images already at SIZE: no resizing, whose values
    # differ slightly between the two tf.data branches
    images = _images(6)[:, 4:36, 4:36]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    featurizer = CNNFeaturizer(image_size=SIZE, cache=False)
    from_arrays = featurizer.fit_transform(images)
    from_paths = featurizer.transform([str(p) for p in paths])
    assert np.allclose(from_paths, from_arrays, atol=1e-4)
    with pytest.raises(FileNotFoundError):
        featurizer.transform([str(tmp_path / "missing.png")])


def test_cache_is_keyed_by_content():
    images = _images(6, seed=1)
    before = set(cache_dir("features").glob("array-*.npz"))
    featurizer = CNNFeaturizer(image_size=SIZE)
    first = featurizer.fit_transform(images)
    added = set(cache_dir("features").glob("array-*.npz")) - before
    assert len(added) == 1
    assert np.array_equal(featurizer.transform(images), first)  # read back from the cache
    assert len(set(cache_dir("features").glob("array-*.npz")) - before) == 1
    changed = images.copy()
    changed[-1, 0, 0] += 1  # one pixel of one image: a different cache entry
    featurizer.transform(changed)
    assert len(set(cache_dir("features").glob("array-*.npz")) - before) == 2


def test_rejects_tables_bad_parameters_and_unfitted_use():
    with pytest.raises(ValueError, match="expects images"):
        CNNFeaturizer(image_size=SIZE).fit(np.zeros((10, 4)))
    with pytest.raises(ValueError, match="channels"):
        images_to_dataset(np.zeros((2, 8, 8, 5)))
    with pytest.raises(ValueError, match="tta_views"):
        CNNFeaturizer(tta_views=9).fit(_images(2))
    with pytest.raises(ValueError, match="unknown backbone"):
        CNNFeaturizer(backbone="nope").fit(_images(2))
    with pytest.raises(NotFittedError):
        CNNFeaturizer().transform(_images(2))
    with pytest.raises(NotFittedError):
        CNNFeaturizer().get_feature_names_out()


def test_images_to_dataset_wraps_arrays_and_datasets():
    images = _images(3)
    dataset = images_to_dataset(images)
    assert (
        isinstance(dataset, ImageDataset)
        and len(dataset) == 3
        and dataset.name.startswith("array-")
    )
    assert images_to_dataset(images).name == dataset.name
    assert images_to_dataset(images[::-1]).name != dataset.name
    assert images_to_dataset(dataset) is dataset


def test_pipeline_clone_pickle_and_pandas_output():
    images, labels = _images(16), np.arange(16) % 2
    pipeline = make_pipeline(CNNFeaturizer(image_size=SIZE), LogisticRegression(max_iter=2000))
    pipeline.fit(images, labels)
    assert pipeline.score(images, labels) == 1.0  # a bright bar vs noise is trivially separable
    assert pipeline.predict_proba(images).shape == (16, 2)
    copy = clone(pipeline)
    assert copy.get_params()["cnnfeaturizer__image_size"] == SIZE
    assert not hasattr(copy.named_steps["cnnfeaturizer"], "n_features_out_")
    restored = pickle.loads(pickle.dumps(pipeline))
    assert np.array_equal(restored.predict(images), pipeline.predict(images))
    frame = CNNFeaturizer(image_size=SIZE).set_output(transform="pandas").fit_transform(images)
    assert list(frame.columns[:2]) == [
        "mobilenet_v2_gap_0",
        "mobilenet_v2_gap_1",
    ] and frame.shape == (16, 1280)


def test_lightgbm_pipeline_fits_and_predicts():
    lightgbm = pytest.importorskip("lightgbm")
    images, labels = _images(40, seed=2), np.arange(40) % 2
    pipeline = make_pipeline(
        CNNFeaturizer(image_size=SIZE),
        lightgbm.LGBMClassifier(n_estimators=20, min_child_samples=2, verbose=-1, n_jobs=2),
    )
    pipeline.fit(images, labels)
    assert pipeline.score(images, labels) >= 0.95
