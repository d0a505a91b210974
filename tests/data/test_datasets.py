from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest

from helpers.data.catalog import load_dataset
from helpers.data.datasets import (
    DatasetError,
    ImageDataset,
    carve_validation,
    load_elpv,
    load_image_folder,
    split_indices,
    stratified_sample,
)


def write_folder(root, classes):
    """classes: name -> list of (filename, array or raw bytes)."""
    for name, files in classes.items():
        folder = root / name
        folder.mkdir(parents=True)
        for filename, content in files:
            if isinstance(content, bytes):
                (folder / filename).write_bytes(content)
            else:
                cv2.imwrite(str(folder / filename), content)
    return root


def gray(value, size=20):
    return np.full((size, size), value, np.uint8)


def test_folder_dataset_reads_formats_labels_and_skips_corrupt_files(tmp_path):
    colour = np.zeros((16, 24, 3), np.uint8)
    colour[..., 2] = 255  # red in OpenCV's BGR order
    root = write_folder(
        tmp_path / "images",
        {
            "cracked": [
                ("a.png", gray(10)),
                ("b.bmp", gray(20)),
                ("broken.png", b"not an image at all"),
            ],
            "ok": [("c.jpg", colour), ("d.tif", gray(30)), ("notes.txt", b"ignored")],
        },
    )
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        dataset = load_image_folder(root)

    assert dataset.class_names == ["cracked", "ok"]
    assert dataset.labels.tolist() == [0, 0, 1, 1]
    assert [p.name for p in dataset.paths] == ["a.png", "b.bmp", "c.jpg", "d.tif"]
    assert [p.name for p, _ in dataset.skipped] == ["broken.png"]
    assert dataset.image(0).shape == (20, 20)
    red = dataset.image(2)
    # decoded to RGB
    assert red.shape == (16, 24, 3) and red[..., 0].min() > 200 and red[..., 2].max() < 50
    with pytest.warns(UserWarning):
        assert load_dataset(f"folder:{root}").labels.tolist() == [0, 0, 1, 1]


def test_folder_dataset_strict_mode_raises_on_the_corrupt_file(tmp_path):
    root = write_folder(
        tmp_path / "images",
        {
            "a": [("x.png", gray(1)), ("bad.png", b"\x89PNG broken")],
            "b": [("y.png", gray(2)), ("w.png", gray(3))],
        },
    )
    with pytest.raises(DatasetError, match="bad.png is not a readable image"):
        load_image_folder(root, strict=True)


def test_empty_class_and_missing_folders_give_clear_errors(tmp_path):
    root = write_folder(
        tmp_path / "images",
        {
            "full": [("x.png", gray(1)), ("w.png", gray(2))],
            "empty": [],
            "single": [("s.png", gray(3))],
        },
    )
    with pytest.raises(
        DatasetError, match=r"empty \(0\), single \(1\) in .* hold fewer than 2 readable"
    ):
        load_image_folder(root)
    with pytest.raises(DatasetError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="has 0 class sub-folder"):
        load_image_folder(tmp_path / "flat")
    with pytest.raises(DatasetError, match="unknown image data set 'nope'"):
        load_dataset("nope")
    with pytest.raises(DatasetError, match="did you mean 'elpv'"):
        load_dataset("elvp")


@pytest.fixture(scope="module")
def elpv():
    return load_elpv()


@pytest.mark.slow
def test_elpv_labels_and_metadata(elpv):
    assert len(elpv) == 2624 and elpv.images.shape == (2624, 300, 300)
    assert np.bincount(elpv.labels).tolist() == [1508 + 295, 106 + 715]
    assert np.bincount(elpv.meta["level"]).tolist() == [1508, 295, 106, 715]
    assert elpv.meta["module_type"].value_counts().to_dict() == {"poly": 1550, "mono": 1074}
    assert "CC BY-NC-SA 4.0" in elpv.license
    assert np.bincount(load_elpv("level").labels).tolist() == [1508, 295, 106, 715]


@pytest.mark.slow
def test_target_probabilities_are_the_experts_probabilities_or_one_hot(elpv, tmp_path):
    targets = elpv.target_probabilities([0, 1, 2])
    expected = elpv.meta["probability"].to_numpy()[:3]
    np.testing.assert_allclose(targets, np.stack([1 - expected, expected], 1), atol=1e-7)
    every = elpv.target_probabilities()
    assert every.shape == (2624, 2)
    np.testing.assert_allclose(np.unique(every[:, 1]), [0, 1 / 3, 2 / 3, 1], atol=1e-6)
    # the soft target never contradicts the label
    np.testing.assert_array_equal(every.argmax(1), elpv.labels)
    np.testing.assert_allclose(every.sum(1), 1.0, atol=1e-6)
    # four classes: the probabilities are the classes, targets are one-hot
    levels = load_elpv("level")
    np.testing.assert_array_equal(
        levels.target_probabilities([0, 5]), np.eye(4, dtype=np.float32)[levels.labels[[0, 5]]]
    )
    root = write_folder(
        tmp_path / "images",
        {
            "a": [("x.png", gray(1)), ("w.png", gray(4))],
            "b": [("y.png", gray(2)), ("z.png", gray(3))],
        },
    )
    np.testing.assert_array_equal(
        load_image_folder(root).target_probabilities(), [[1, 0], [1, 0], [0, 1], [0, 1]]
    )


@pytest.mark.slow
def test_shared_split_is_deterministic_disjoint_and_stratified(elpv):
    train, test = split_indices(elpv)
    again_train, again_test = split_indices(elpv)
    assert (len(train), len(test)) == (1968, 656)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)
    assert not set(train) & set(test)
    for stratum in np.unique(elpv.strata):
        share_in_test = np.mean(elpv.strata[test] == stratum)
        share_overall = np.mean(elpv.strata == stratum)
        assert abs(share_in_test - share_overall) < 0.005


@pytest.mark.slow
def test_a_shipped_split_column_is_kept(elpv):
    subset = elpv.subset(np.arange(10))
    subset.meta["split"] = ["train"] * 6 + ["val", "test", "test", "train"]
    train, test = split_indices(subset)
    assert train.tolist() == [0, 1, 2, 3, 4, 5, 6, 9] and test.tolist() == [7, 8]


def test_stratified_sample_keeps_proportions_and_is_a_subset():
    strata = np.array([0] * 80 + [1] * 20)
    indices = np.arange(100)
    sample = stratified_sample(indices, strata, 20, seed=0)
    assert len(sample) == 20 and set(sample) <= set(indices)
    assert np.bincount(strata[sample]).tolist() == [16, 4]
    assert stratified_sample(indices, strata, None) is indices


def test_two_images_per_class_split_into_one_each(tmp_path):
    root = write_folder(
        tmp_path / "tiny",
        {
            name: [(f"{name}{i}.png", gray(10 * i + 5)) for i in range(2)]
            for name in ("a", "b", "c")
        },
    )
    dataset = load_image_folder(root)
    train, test = split_indices(dataset)
    assert np.bincount(dataset.labels[train]).tolist() == [1, 1, 1] and np.bincount(
        dataset.labels[test]
    ).tolist() == [1, 1, 1]


def test_carve_validation_is_stratified_disjoint_and_deterministic():
    indices = np.arange(100, 300)
    strata = np.array(["a", "b"] * 200)
    fit, val = carve_validation(indices, strata, 0.2, seed=3)
    assert len(val) == 40 and len(fit) == 160
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(indices)
    assert np.sum(strata[val] == "a") == 20
    again = carve_validation(indices, strata, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)


def test_the_fingerprint_of_images_in_memory_sees_a_change_to_any_one_image():
    # a cache key: two versions of a set that differ in one
    # image (one stamp, one inpainted region) must not share it
    images = np.zeros((200, 8, 8), np.uint8)
    dataset = ImageDataset(
        "set", np.zeros(200, int), ["a"], pd.DataFrame(index=range(200)), images=images
    )
    for index in (0, 1, 199):
        changed = images.copy()
        changed[index, 3, 3] = 1
        assert replace(dataset, images=changed).fingerprint != dataset.fingerprint, index
    assert replace(dataset, images=images.copy()).fingerprint == dataset.fingerprint
