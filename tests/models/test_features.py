"""The input pipeline, the one frozen forward pass in augmented views, and its caches that heal."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from helpers.data.datasets import ImageDataset
from helpers.models.augment import dihedral_view
from helpers.models.backbones import build_backbone
from helpers.models.features import (
    feature_cache_key,
    featurize,
    featurize_variant,
    featurize_variants,
    frozen_input_batches,
    frozen_network,
    frozen_outputs,
    image_batches,
)
from helpers.models.runtime import FrozenNetwork, available_runtimes
from helpers.paths import CacheWarning, cache_dir


def in_memory_dataset(n=6, size=40):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    labels = np.arange(n) % 2
    return ImageDataset("toy", labels, ["a", "b"], pd.DataFrame(index=range(n)), images=images)


def test_in_memory_batches_are_resized_rgb_in_pixel_range():
    dataset = in_memory_dataset(n=5, size=40)
    batches = list(image_batches(dataset, np.array([4, 0, 2]), image_size=20, batch_size=2))
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (3, 20, 20, 3) and images.dtype == np.float32
    assert labels.tolist() == [0, 0, 0]
    assert 0 <= images.min() and images.max() <= 255
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grayscale repeated into RGB


@pytest.mark.parametrize("in_memory", [True, False])
def test_frozen_input_batches_are_the_batches_of_image_batches(tmp_path, in_memory):
    import cv2

    dataset = in_memory_dataset(n=5, size=40)
    if not in_memory:
        paths = [tmp_path / f"{i}.png" for i in range(len(dataset))]
        for path, image in zip(paths, dataset.images):
            cv2.imwrite(str(path), image)
        dataset = ImageDataset(
            "files", dataset.labels, dataset.class_names, dataset.meta, paths=paths
        )
    indices = np.array([4, 0, 2])
    batches = list(frozen_input_batches(dataset, indices, image_size=20, batch_size=2))
    expected = [
        batch.numpy()
        for batch in image_batches(dataset, indices, image_size=20, batch_size=2, with_labels=False)
    ]
    assert [batch.shape for batch in batches] == [(2, 20, 20, 3), (1, 20, 20, 3)]
    for batch, same in zip(batches, expected):
        np.testing.assert_array_equal(batch, same)


def test_file_batches_decode_colour_files_in_order(tmp_path):
    import cv2

    paths = []
    for i, bgr in enumerate([(255, 0, 0), (0, 0, 255)]):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), np.full((30, 50, 3), bgr, np.uint8))
        paths.append(path)
    dataset = ImageDataset(
        "files", np.array([0, 1]), ["blue", "red"], pd.DataFrame(index=range(2)), paths=paths
    )
    images = next(
        iter(image_batches(dataset, np.array([0, 1]), image_size=16, with_labels=False))
    ).numpy()
    assert images.shape == (2, 16, 16, 3)
    # the BGR file (255, 0, 0) is blue in RGB
    np.testing.assert_allclose(images[0, 8, 8], [0, 0, 255])
    np.testing.assert_allclose(images[1, 8, 8], [255, 0, 0])


def test_featurize_caches_and_recovers_from_a_damaged_cache():
    dataset = in_memory_dataset(n=6, size=40)
    indices = np.array([0, 1, 3, 5])
    first = featurize(dataset, indices, image_size=32, batch_size=3, progress=False)
    second = featurize(dataset, indices, image_size=32, batch_size=3, progress=False)
    assert first.X.shape == (4, 1280) and not first.from_cache and first.images_per_s > 0
    assert second.from_cache
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(second.y, dataset.labels[indices])

    key = feature_cache_key(dataset, indices, "mobilenet_v2", 32, None, 1)
    (cache_dir("features") / f"{key}.npz").write_bytes(b"half a file")
    with pytest.warns(CacheWarning, match=f"{key}.npz is damaged"):
        third = featurize(dataset, indices, image_size=32, batch_size=3, progress=False)
    assert not third.from_cache
    np.testing.assert_allclose(third.X, first.X, rtol=1e-5, atol=1e-6)


def test_cache_key_changes_with_everything_that_changes_the_features():
    dataset = in_memory_dataset()
    base = feature_cache_key(dataset, np.arange(4), "mobilenet_v2", 224, None, 1)
    assert base.startswith("toy-mobilenet_v2-torchvision-b03531047ffa-224px-last-tta1-n4-")
    variants = [
        feature_cache_key(dataset, np.arange(1, 5), "mobilenet_v2", 224, None, 1),
        feature_cache_key(dataset, np.arange(4), "resnet50", 224, None, 1),
        feature_cache_key(dataset, np.arange(4), "mobilenet_v2", 300, None, 1),
        feature_cache_key(dataset, np.arange(4), "mobilenet_v2", 224, "block_13_expand_relu", 1),
        feature_cache_key(dataset, np.arange(4), "mobilenet_v2", 224, None, 4),
    ]
    assert len({base, *variants}) == 6


def test_featurize_rejects_a_bad_number_of_views():
    with pytest.raises(ValueError, match="tta_views"):
        featurize(in_memory_dataset(), np.arange(2), tta_views=9)
    with pytest.raises(
        ValueError,
        match=r"tta_views must be between 1 and 8 \(the dihedral views of a square\), not 0",
    ):
        featurize_variants(in_memory_dataset(), np.arange(2), {"no views": [[32, "last", 0]]})
    with pytest.raises(
        ValueError,
        match=r"variants \['nothing'\] list no \[image size, layer, test-time views\] block",
    ):
        featurize_variants(
            in_memory_dataset(), np.arange(2), {"last": [[32, "last", 1]], "nothing": []}
        )


@pytest.mark.slow
def test_variants_computed_together_equal_each_block_computed_alone():
    dataset = in_memory_dataset(n=5, size=48)
    indices = np.array([4, 0, 2, 1])
    variants = {
        "last": [[32, "last", 1]],
        "last, TTA x4": [[32, "last", 4]],
        "block_13, TTA x2": [[32, "block_13_expand_relu", 2]],
        "48 px, last + block_16": [[48, "last", 3], [48, "block_16_project_BN", 1]],
    }
    before = set(cache_dir("features").glob("*.npz"))
    together = featurize_variants(dataset, indices, variants, progress=False)
    written = set(cache_dir("features").glob("*.npz")) - before
    assert len(written) == 5  # one file per block, as featurize names them
    for name, spec in variants.items():
        alone = np.hstack(
            [
                featurize(
                    dataset,
                    indices,
                    image_size=size,
                    layer=None if layer == "last" else layer,
                    tta_views=views,
                    cache=False,
                    progress=False,
                ).X
                for size, layer, views in spec
            ]
        )
        assert together[name].shape == alone.shape
        assert np.abs(together[name] - alone).max() <= 1e-5 * np.abs(alone).max(), name
    # from the cache
    np.testing.assert_array_equal(
        featurize_variant(dataset, indices, variants["last, TTA x4"]), together["last, TTA x4"]
    )
    assert set(cache_dir("features").glob("*.npz")) - before == written


@pytest.mark.parametrize("image_size", [224, 96, 64])  # shrinking by less and by more than 2x
def test_files_and_arrays_give_the_same_pixels(tmp_path, image_size):
    import cv2

    images = np.random.default_rng(1).integers(0, 256, (2, 300, 300), dtype=np.uint8)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    meta = pd.DataFrame(index=range(2))
    in_memory = ImageDataset("memory", np.zeros(2, int), ["a"], meta, images=images)
    on_disk = ImageDataset("disk", np.zeros(2, int), ["a"], meta, paths=paths)
    from_memory = next(
        iter(image_batches(in_memory, np.arange(2), image_size, with_labels=False))
    ).numpy()
    from_files = next(
        iter(image_batches(on_disk, np.arange(2), image_size, with_labels=False))
    ).numpy()
    np.testing.assert_array_equal(from_memory, from_files)


@pytest.mark.slow
def test_featurize_on_every_runtime_gives_tensorflows_features():
    dataset = in_memory_dataset(n=5, size=48)
    reference = featurize(
        dataset, np.arange(5), image_size=48, runtime="tensorflow", cache=False, progress=False
    )
    for runtime in [name for name in available_runtimes() if name != "tensorflow"]:
        got = featurize(
            dataset, np.arange(5), image_size=48, runtime=runtime, cache=False, progress=False
        )
        assert got.runtime == runtime
        assert np.abs(got.X - reference.X).max() <= 1e-4 * np.abs(reference.X).max()


def test_frozen_outputs_are_the_maps_of_each_view_and_are_cached():
    dataset = in_memory_dataset(n=6, size=32)
    model = build_backbone("mobilenet_v2", 32, layer="block_12_add", pooling=None, weights=None)
    network = FrozenNetwork(model, runtime="openvino", key="test-lower-32")
    maps = frozen_outputs(network, dataset, np.arange(6), 32, views=3, progress=False)
    assert maps.shape == (3, 6, 2, 2, 96)
    images = tf.cast(tf.image.grayscale_to_rgb(tf.constant(dataset.images[..., None])), tf.float32)
    for view in range(3):
        expected = model(dihedral_view(images, view), training=False).numpy()
        np.testing.assert_allclose(maps[view], expected, rtol=1e-4, atol=1e-4)
    files = sorted(cache_dir("outputs").glob("toy-test-lower-32-v3-*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    np.testing.assert_array_equal(
        frozen_outputs(network, dataset, np.arange(6), 32, views=3, progress=False), maps
    )
    assert files[0].stat().st_mtime_ns == stamp  # read back, not recomputed


def test_jittered_views_are_reproducible_and_differ_from_the_clean_ones():
    dataset = in_memory_dataset(n=4, size=32)
    network = frozen_network("mobilenet_v2", 32)
    clean = frozen_outputs(network, dataset, np.arange(4), 32, views=2, cache=False, progress=False)
    jittered = frozen_outputs(
        network,
        dataset,
        np.arange(4),
        32,
        views=2,
        jitter=(0.1, 0.1),
        seed=3,
        cache=False,
        progress=False,
    )
    again = frozen_outputs(
        network,
        dataset,
        np.arange(4),
        32,
        views=2,
        jitter=(0.1, 0.1),
        seed=3,
        cache=False,
        progress=False,
    )
    np.testing.assert_array_equal(jittered, again)
    assert not np.allclose(jittered, clean)
    with pytest.raises(ValueError, match="views"):
        frozen_outputs(network, dataset, np.arange(4), 32, views=9)


def test_a_damaged_outputs_cache_is_named_removed_and_rebuilt(damaged):
    dataset = in_memory_dataset(n=4, size=32)
    network = frozen_network("mobilenet_v2", 32, pooling=None)
    first = frozen_outputs(network, dataset, np.arange(4), 32, progress=False)
    (path,) = [p for p in cache_dir("outputs").glob(f"toy-{network.key}-v1-n4-*.npz")]
    bad = damaged(path.read_bytes())
    path.write_bytes(bad)
    with pytest.warns(CacheWarning, match=f"{path.name} is damaged"):
        again = frozen_outputs(network, dataset, np.arange(4), 32, progress=False)
    np.testing.assert_allclose(again, first, rtol=1e-6)
    assert path.read_bytes() != bad
