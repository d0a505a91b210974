"""Featurizing and training on a LocalCluster of 2 workers on 127.0.0.1: the same features, resumes,
survives a killed worker, rewrites a damaged partition; LightGBM on the cluster learns."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

from helpers.data.datasets import ImageDataset
from helpers.models.features import featurize, frozen_network
from helpers.paths import CacheWarning
from helpers.scale.cluster import connect, describe
from helpers.scale.features import ID, LABEL, feature_columns, featurize_on_cluster, read_features
from helpers.scale.training import train_lightgbm

SIZE = 32
pytestmark = pytest.mark.slow  # every test here starts or uses a LocalCluster


@pytest.fixture(scope="module")
def client():
    client = connect(workers=2, threads_per_worker=1)
    yield client
    client.close()
    client.cluster.close()


@pytest.fixture(scope="module")
def images() -> ImageDataset:
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 2
    pictures = rng.integers(0, 80, (96, SIZE, SIZE)).astype(np.uint8)
    pictures[labels == 1, 8:16, :] = 220  # class 1: a bright bar
    return ImageDataset(
        "bars", labels, ["dark", "bar"], pd.DataFrame(index=range(96)), images=pictures
    )


@pytest.fixture(scope="module")
def network():
    return frozen_network("mobilenet_v2", SIZE, runtime="openvino").portable(threads=1)


def test_a_local_cluster_of_single_threaded_workers(client):
    assert describe(client).startswith("tcp://127.0.0.1:") and "2 workers, 2 threads" in describe(
        client
    )


def test_each_local_worker_has_a_core_of_its_own_and_no_profiler(client):
    cores = sorted(os.sched_getaffinity(0))
    masks = client.run(lambda: sorted(os.sched_getaffinity(0)))
    # one core: nothing to pin
    expected = [[cores[0]], [cores[1]]] if len(cores) >= 2 else [cores, cores]
    assert sorted(masks.values()) == expected

    import dask

    assert set(
        client.run(lambda: dask.config.get("distributed.worker.profile.enabled")).values()
    ) == {False}


def test_cluster_features_equal_the_single_process_ones_in_order(client, images, network, tmp_path):
    indices = np.arange(5, 85)
    run = featurize_on_cluster(
        client,
        images,
        indices,
        tmp_path / "f",
        network,
        image_size=SIZE,
        partition_size=16,
        progress=False,
    )
    assert (run.partitions, run.written, run.images) == (5, 5, 80) and run.images_per_s > 0
    frame = read_features(tmp_path / "f")
    np.testing.assert_array_equal(frame[ID], indices)
    np.testing.assert_array_equal(frame[LABEL], images.labels[indices])
    single = featurize(images, indices, image_size=SIZE, cache=False, progress=False)
    assert np.abs(frame[feature_columns(frame)].to_numpy() - single.X).max() <= 1e-5


@pytest.mark.parametrize("damaged", ["truncated"], indirect=True)  # a half-written partition
def test_a_rerun_writes_only_the_missing_and_damaged_partitions(
    client, images, network, tmp_path, damaged
):
    folder = tmp_path / "f"
    featurize_on_cluster(
        client,
        images,
        np.arange(64),
        folder,
        network,
        image_size=SIZE,
        partition_size=16,
        progress=False,
    )
    before = read_features(folder)
    (folder / "part-00001.parquet").unlink()  # an interrupted job left this one out
    damaged_part = folder / "part-00002.parquet"
    damaged_part.write_bytes(damaged(damaged_part.read_bytes()))  # and this one half-written
    stamp = (folder / "part-00000.parquet").stat().st_mtime_ns
    with pytest.warns(CacheWarning, match="part-00002.parquet is damaged"):
        run = featurize_on_cluster(
            client,
            images,
            np.arange(64),
            folder,
            network,
            image_size=SIZE,
            partition_size=16,
            progress=False,
        )
    assert run.written == 2 and (folder / "part-00000.parquet").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(read_features(folder), before)
    with pytest.raises(ValueError, match="other images or another network"):
        featurize_on_cluster(
            client,
            images,
            np.arange(32),
            folder,
            network,
            image_size=SIZE,
            partition_size=16,
            progress=False,
        )
    timed = featurize_on_cluster(
        client,
        images,
        np.arange(32),
        folder,
        network,
        image_size=SIZE,
        partition_size=16,
        overwrite=True,
        progress=False,
    )
    assert (timed.written, timed.images) == (2, 32) and sorted(
        p.name for p in folder.glob("part-*")
    ) == ["part-00000.parquet", "part-00001.parquet"]
    pd.testing.assert_frame_equal(read_features(folder), before.iloc[:32])
    fresh = featurize_on_cluster(
        client,
        images,
        np.arange(16),
        tmp_path / "new",
        network,
        image_size=SIZE,
        partition_size=16,
        overwrite=True,
        progress=False,
    )
    assert (fresh.written, fresh.images) == (1, 16)


def test_a_worker_killed_mid_job_loses_and_duplicates_no_image(client, images, network, tmp_path):
    """The images come from a folder each worker reads itself (a data set by name): a task that dies
    with its worker carries only indices, and Dask reruns it elsewhere."""
    import cv2

    from helpers.data.catalog import load_dataset

    for name in images.class_names:
        (tmp_path / "images" / name).mkdir(parents=True)
    for i, (picture, label) in enumerate(zip(images.images, images.labels)):
        cv2.imwrite(str(tmp_path / "images" / images.class_names[label] / f"{i:03d}.png"), picture)
    source = f"folder:{tmp_path / 'images'}"
    on_disk = load_dataset(source)
    folder = tmp_path / "f"
    pids = client.run(os.getpid)
    victim = next(iter(pids.values()))

    def kill_when_started():
        while not list(folder.glob("part-*.parquet")):
            time.sleep(0.05)
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    run = featurize_on_cluster(
        client,
        on_disk,
        np.arange(96),
        folder,
        network,
        image_size=SIZE,
        partition_size=4,
        source=source,
        progress=False,
    )
    killer.join(timeout=5)
    frame = read_features(folder)
    # the worker was killed mid-job
    assert not killer.is_alive() and victim not in client.run(os.getpid).values()
    assert (
        run.partitions == 24
        and len(frame) == 96
        and frame[ID].is_unique
        and set(frame[ID]) == set(range(96))
    )
    np.testing.assert_array_equal(frame[LABEL], on_disk.labels)
    client.wait_for_workers(2, timeout=60)


def test_lightgbm_on_the_cluster_beats_the_majority_class(client, images, network, tmp_path):
    featurize_on_cluster(
        client,
        images,
        np.arange(64),
        tmp_path / "train",
        network,
        image_size=SIZE,
        partition_size=16,
        progress=False,
    )
    featurize_on_cluster(
        client,
        images,
        np.arange(64, 96),
        tmp_path / "test",
        network,
        image_size=SIZE,
        partition_size=16,
        progress=False,
    )
    model = train_lightgbm(
        client, tmp_path / "train", n_estimators=40, num_leaves=7, min_child_samples=5, verbose=-1
    )
    test = read_features(tmp_path / "test")
    accuracy = (
        model.to_local().predict(test[feature_columns(test)].to_numpy()) == test[LABEL].to_numpy()
    ).mean()
    assert accuracy > 0.5 + 0.2  # majority: one half
