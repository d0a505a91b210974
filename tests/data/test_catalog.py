"""The catalog, helpers.data.remote and data_download.py: each
set fetched from a local server in its real format, then loaded."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers.data import remote
from helpers.data.archives import ArchiveError
from helpers.data.catalog import CATALOG, fetch, load_dataset
from helpers.data.datasets import DatasetError, ImageDataset, split_indices
from helpers.data.downloads import ChecksumMismatchError, DownloadError, NotFoundError, Resource
from helpers.data.remote import (
    CHESTMNIST_FINDINGS,
    EUROSAT_CLASSES,
    RESOURCES,
    UCI_HAR_CHANNELS,
    load_chestmnist,
    load_eurosat,
    load_pneumoniamnist,
    load_uci_har,
)
from helpers.models.backbones import KERAS_APPLICATIONS

REPO = Path(__file__).resolve().parents[2]
FAST = {"retries": 0, "backoff": 0.0, "timeout": 10.0, "progress": False}
UCI_HAR_ACTIVITIES = [
    "WALKING",
    "WALKING_UPSTAIRS",
    "WALKING_DOWNSTAIRS",
    "SITTING",
    "STANDING",
    "LAYING",
]


# ------------------------------------------------------------- fixtures in the real on-disk formats


def eurosat_zip(per_class: int = 4) -> bytes:
    """EuroSAT.zip's layout: 2750/<Class>/<Class>_<n>.jpg, 64x64 RGB JPEGs."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2750/", "")
        for label, name in enumerate(EUROSAT_CLASSES):
            archive.writestr(f"2750/{name}/", "")
            for n in range(1, per_class + 1):
                image = np.full((64, 64, 3), 20 * label, np.uint8) + rng.integers(
                    0, 10, (64, 64, 3), dtype=np.uint8
                )
                ok, jpeg = cv2.imencode(".jpg", image)
                assert ok
                archive.writestr(f"2750/{name}/{name}_{n}.jpg", jpeg.tobytes())
    return buffer.getvalue()


def medmnist_npz(size: int, counts: dict[str, int], n_labels: int) -> bytes:
    """MedMNIST's npz: {train,val,test}_images uint8 (n,
    size, size), {train,val,test}_labels uint8 (n, n_labels).

    One label column: 0, 1, 0, 1, ... Several (multi-label 0/1): every 4th row has no finding.
    """
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in counts.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        rows = np.arange(n)[:, None]
        if n_labels == 1:
            labels = rows % 2
        else:
            labels = (((rows * 3 + np.arange(n_labels)) % 5 == 0) | (rows % 4 == 1)) & (
                rows % 4 != 0
            )
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def uci_har_signal(split: int, window: int, channel: int) -> np.ndarray:
    """A window whose values encode (split, window, channel), to check the reader's axis order."""
    return split * 100 + window + channel / 10 + np.arange(128) / 10000


def uci_har_zips(n_train: int = 6, n_test: int = 4) -> tuple[bytes, bytes]:
    """(outer, inner): UCI's download wraps 'UCI HAR
    Dataset.zip', which holds 'UCI HAR Dataset/...' text files."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "UCI HAR Dataset/activity_labels.txt",
            "".join(f"{i} {name}\n" for i, name in enumerate(UCI_HAR_ACTIVITIES, 1)),
        )
        archive.writestr(
            "__MACOSX/UCI HAR Dataset/._activity_labels.txt", b"\x00\x05\x16\x07 resource fork"
        )
        archive.writestr(
            "UCI HAR Dataset/README.txt", "Human Activity Recognition Using Smartphones Dataset\n"
        )
        for split_index, (split, n) in enumerate((("train", n_train), ("test", n_test))):
            labels = [(i % 6) + 1 for i in range(n)]
            archive.writestr(
                f"UCI HAR Dataset/{split}/y_{split}.txt", "".join(f"{y}\n" for y in labels)
            )
            archive.writestr(
                f"UCI HAR Dataset/{split}/subject_{split}.txt",
                "".join(f"{1 + i % 3}\n" for i in range(n)),
            )
            for channel, name in enumerate(UCI_HAR_CHANNELS):
                rows = [
                    "".join(f" {v: .7e}" for v in uci_har_signal(split_index, w, channel))
                    for w in range(n)
                ]
                archive.writestr(
                    f"UCI HAR Dataset/{split}/Inertial Signals/{name}_{split}.txt",
                    "\n".join(rows) + "\n",
                )
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("UCI HAR Dataset.names", "Human Activity Recognition Using Smartphones\n")
        archive.writestr("UCI HAR Dataset.zip", inner.getvalue())
    return outer.getvalue(), inner.getvalue()


def serve(
    monkeypatch,
    server,
    name: str,
    body: bytes,
    *,
    published: bool = True,
    inner: Resource | None = None,
) -> Resource:
    """Serve ``body`` for data set ``name`` and point its
    resource at the local server (with its checksum)."""
    original = RESOURCES[name]
    path = f"/{name}/{original.filename}"
    server.routes[path] = body
    checksums = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()} if published else {}
    resource = Resource(server.url(path), original.filename, **checksums)
    monkeypatch.setitem(RESOURCES, name, resource)
    if inner is not None:
        monkeypatch.setattr(remote, "UCI_HAR_INNER", inner)
    return resource


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("TL_DATA_DIR", str(root))
    return root


# ----------------------------------------------------------------------------- EuroSAT


def test_eurosat_fetch_and_load(server, monkeypatch, data_root):
    serve(monkeypatch, server, "eurosat", eurosat_zip())
    assert fetch("eurosat", **FAST) == data_root / "eurosat"
    assert sorted(p.name for p in data_root.iterdir()) == ["downloads", "eurosat"]
    # the verified zip is removed after extraction
    assert list((data_root / "downloads").iterdir()) == []

    dataset = load_dataset("eurosat")
    assert isinstance(dataset, ImageDataset) and dataset.images is None
    assert len(dataset) == 40 and dataset.class_names == EUROSAT_CLASSES
    assert np.bincount(dataset.labels).tolist() == [4] * 10
    assert all(
        path.parent.name == EUROSAT_CLASSES[label]
        for path, label in zip(dataset.paths, dataset.labels)
    )
    image = dataset.image(int(np.flatnonzero(dataset.labels == 3)[0]))
    # class 3: value 60 + noise
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8 and 55 <= image.mean() <= 75
    train, test = split_indices(dataset)
    assert (
        len(train) == 30
        and len(test) == 10
        and np.bincount(dataset.labels[test]).tolist() == [1] * 10
    )


def test_eurosat_second_fetch_is_a_no_op(server, monkeypatch, data_root):
    serve(monkeypatch, server, "eurosat", eurosat_zip(2))
    fetch("eurosat", **FAST)
    before = len(server.log)
    fetch("eurosat", **FAST)
    assert len(server.log) == before


def test_eurosat_download_cut_halfway_resumes_and_verifies(server, monkeypatch, data_root):
    resource = serve(monkeypatch, server, "eurosat", eurosat_zip())
    server.cuts[f"/eurosat/{resource.filename}"] = 1
    with pytest.raises(DownloadError, match="run the command again to resume"):
        fetch("eurosat", **FAST)
    assert not (data_root / "eurosat").exists()
    part = data_root / "downloads" / "EuroSAT.zip.part"
    received = part.stat().st_size
    assert 0 < received < resource.size

    fetch("eurosat", **FAST)
    assert server.requests_to(f"/eurosat/{resource.filename}") == [None, f"bytes={received}-"]
    assert not part.exists()
    assert len(load_eurosat()) == 40


def test_eurosat_archive_without_class_folders_is_rejected(server, monkeypatch, data_root):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not EuroSAT")
    serve(monkeypatch, server, "eurosat", buffer.getvalue())
    with pytest.raises(ArchiveError, match="is not the EuroSAT archive"):
        fetch("eurosat", **FAST)
    # no half-prepared folder, no archive
    assert sorted(p.name for p in data_root.rglob("*")) == ["downloads"]


def test_eurosat_checksum_mismatch_leaves_nothing(server, monkeypatch, data_root):
    resource = serve(monkeypatch, server, "eurosat", eurosat_zip(2))
    # right size, wrong bytes
    server.routes["/eurosat/EuroSAT.zip"] = b"PK\x03\x04" + b"x" * (resource.size - 4)
    with pytest.raises(ChecksumMismatchError, match="run the command again"):
        fetch("eurosat", **FAST)
    assert [p for p in data_root.rglob("*") if p.is_file()] == []


# ----------------------------------------------------------------------------- MedMNIST


def test_pneumoniamnist_fetch_and_load(server, monkeypatch, data_root):
    serve(
        monkeypatch,
        server,
        "pneumoniamnist",
        medmnist_npz(224, {"train": 8, "val": 2, "test": 4}, 1),
    )
    path = fetch("pneumoniamnist", **FAST)
    assert path == data_root / "pneumoniamnist" / "pneumoniamnist_224.npz"

    dataset = load_dataset("pneumoniamnist")
    assert dataset.images.shape == (14, 224, 224) and dataset.images.dtype == np.uint8
    assert dataset.class_names == ["normal", "pneumonia"]
    assert dataset.labels.tolist() == [0, 1] * 4 + [0, 1] + [0, 1, 0, 1]
    assert dataset.meta["split"].tolist() == ["train"] * 8 + ["val"] * 2 + ["test"] * 4
    train, test = split_indices(dataset)  # MedMNIST's official split: train + val vs test
    assert train.tolist() == list(range(10)) and test.tolist() == [10, 11, 12, 13]


def test_chestmnist_fetch_and_load(server, monkeypatch, data_root):
    serve(
        monkeypatch, server, "chestmnist", medmnist_npz(64, {"train": 6, "val": 2, "test": 3}, 14)
    )
    fetch("chestmnist", **FAST)
    dataset = load_chestmnist()
    assert dataset.images.shape == (11, 64, 64)
    assert dataset.class_names == ["no finding", "finding"]
    assert list(dataset.meta.columns) == ["split", *CHESTMNIST_FINDINGS]
    findings = dataset.meta[CHESTMNIST_FINDINGS].to_numpy()
    assert set(np.unique(findings)) <= {0, 1}
    assert dataset.labels.tolist() == (findings.sum(axis=1) > 0).astype(int).tolist()
    # rows 0 and 4 of each split: no finding
    assert dataset.labels.tolist() == [0, 1, 1, 1, 0, 1] + [0, 1] + [0, 1, 1]


def test_medmnist_file_without_the_npz_keys_is_removed(server, monkeypatch, data_root):
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((2, 28, 28), np.uint8))
    serve(monkeypatch, server, "pneumoniamnist", buffer.getvalue())
    with pytest.raises(ArchiveError, match="lacks train_images"):
        fetch("pneumoniamnist", **FAST)
    assert not (data_root / "pneumoniamnist" / "pneumoniamnist_224.npz").exists()


def test_medmnist_404_is_reported(server, monkeypatch, data_root):
    missing = Resource(
        server.url("/records/0/files/pneumoniamnist_224.npz"),
        "pneumoniamnist_224.npz",
        md5="0" * 32,
    )
    monkeypatch.setitem(RESOURCES, "pneumoniamnist", missing)
    with pytest.raises(NotFoundError, match="HTTP 404"):
        fetch("pneumoniamnist", **FAST)


# ----------------------------------------------------------------------------- UCI HAR


def test_uci_har_fetch_and_load(server, monkeypatch, data_root):
    outer, inner = uci_har_zips()
    inner_checksum = Resource(
        "unused", "UCI HAR Dataset.zip", sha256=hashlib.sha256(inner).hexdigest()
    )
    serve(monkeypatch, server, "uci_har", outer, published=False, inner=inner_checksum)
    path = fetch("uci_har", **FAST)
    assert path == data_root / "uci_har" / "uci_har.npz"
    # UCI publishes no checksum: recorded on first download
    assert (data_root / "checksums.json").exists()

    X_train, y_train, X_test, y_test, class_names, channel_names = load_uci_har()
    assert X_train.shape == (6, 128, 9) and X_test.shape == (4, 128, 9)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.tolist() == [0, 1, 2, 3, 4, 5] and y_test.tolist() == [0, 1, 2, 3]
    assert class_names == UCI_HAR_ACTIVITIES and channel_names == UCI_HAR_CHANNELS
    # window 2, body_gyro_y
    np.testing.assert_allclose(X_train[2, :, 4], uci_har_signal(0, 2, 4), rtol=1e-6)
    np.testing.assert_allclose(X_test[3, :, 8], uci_har_signal(1, 3, 8), rtol=1e-6)


def test_uci_har_inner_archive_checksum_is_verified(server, monkeypatch, data_root):
    outer, _ = uci_har_zips(2, 2)
    # the published inner checksum does not fit the fixture
    serve(monkeypatch, server, "uci_har", outer)
    with pytest.raises(ChecksumMismatchError, match="inner UCI HAR Dataset.zip: sha256"):
        fetch("uci_har", **FAST)
    assert [p for p in data_root.rglob("*") if p.is_file()] == []


# --------------------------------------------------------------------- missing data and the catalog


@pytest.mark.parametrize(
    "name, loader",
    [
        ("eurosat", load_eurosat),
        ("pneumoniamnist", load_pneumoniamnist),
        ("chestmnist", load_chestmnist),
        ("uci_har", load_uci_har),
    ],
)
def test_missing_data_names_the_exact_command(name, loader, tmp_path, monkeypatch):
    monkeypatch.delenv("TL_DATA_DIR", raising=False)
    with pytest.raises(
        DatasetError, match=rf"is not downloaded .*: run `python data_download.py {name}`$"
    ):
        loader(tmp_path)
    monkeypatch.setenv("TL_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(
        DatasetError, match=rf"run `python data_download.py {name} --dest {tmp_path / 'elsewhere'}`"
    ):
        loader()


def test_load_dataset_knows_the_downloadable_sets(data_root):
    with pytest.raises(DatasetError, match="run `python data_download.py pneumoniamnist"):
        load_dataset("pneumoniamnist")


def test_catalog_is_complete_and_consistent():
    for name in (
        "elpv",
        "eurosat",
        "pneumoniamnist",
        "chestmnist",
        "basic_motions",
        "japanese_vowels",
        "uci_har",
    ):
        info = CATALOG[name]
        assert (
            info.domain
            and info.size
            and info.license
            and info.source.startswith(("http", "keras", "pip"))
        )
        assert (info.package is not None) != info.downloadable
    for resource in RESOURCES.values():
        assert resource.url.startswith("https://") or resource.url.startswith("http://madm.dfki.de")
        assert resource.checksum_source
    assert (
        RESOURCES["eurosat"].sha256
        == "8ebea626349354c5328b142b96d0430e647051f26efc2dc974c843f25ecf70bd"
    )
    assert (
        set(remote.PREPARED)
        == set(RESOURCES)
        == {name for name, info in CATALOG.items() if info.downloadable}
    )
    assert dict(CATALOG["elpv"].published) == {
        "SVM on hand-crafted features (Deitsch et al. 2019)": 0.8244,
        "fine-tuned VGG19, GPU (Deitsch et al. 2019)": 0.8842,
    }


def test_keras_weight_file_names_match_what_keras_asks_for(monkeypatch):
    import keras
    from keras.src.utils import file_utils

    asked = []

    def refuse(fname, origin=None, *args, **kwargs):
        asked.append(fname)
        raise RuntimeError("no download in tests")

    monkeypatch.setattr(file_utils, "get_file", refuse)
    for name, constructor in (("mobilenet", "MobileNet"), ("efficientnet_b0", "EfficientNetB0")):
        with pytest.raises(RuntimeError):
            getattr(keras.applications, constructor)(
                include_top=False, weights="imagenet", input_shape=(224, 224, 3)
            )
        assert asked[-1] == KERAS_APPLICATIONS[name][2][0]


def test_weights_prefetch_offline_fails_with_one_line(monkeypatch, tmp_path, capsys):
    from keras.src.utils import file_utils

    def offline(fname, origin=None, *args, **kwargs):
        raise Exception(
            f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in "
            "name resolution"
        )

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(file_utils, "get_file", offline)
    cli = load_cli()
    assert cli.weights_status("weights:mobilenet") == "not cached"
    assert cli.main(["weights:mobilenet"]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(
            "error: weights:mobilenet: ImageNet weights for weights:mobilenet could not "
            "be downloaded"
        )
        and "\n" not in err
    )
    assert "URL fetch failure" in err
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / KERAS_APPLICATIONS["mobilenet"][2][0]).write_bytes(b"h5")
    assert cli.weights_status("weights:mobilenet") == "cached"


# ----------------------------------------------------------------------------- the command line


def load_cli():
    spec = importlib.util.spec_from_file_location("data_download", REPO / "data_download.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_list_is_offline_and_accurate(server, monkeypatch, data_root, capsys):
    cli = load_cli()
    assert cli.main(["--list"]) == 0
    listing = capsys.readouterr().out
    lines = {
        line.split()[0]: line
        for line in listing.splitlines()
        if line and not line.startswith(("name", "data directory", "your own"))
    }
    assert set(CATALOG) <= set(lines)
    assert (
        "not downloaded" in lines["eurosat"]
        and "CC BY 4.0" in lines["pneumoniamnist"]
        and "offline" in lines["elpv"]
    )
    assert str(data_root) in listing

    serve(monkeypatch, server, "eurosat", eurosat_zip(2))
    assert cli.main(["eurosat", "--quiet", "--retries", "0"]) == 0
    assert cli.main(["--list"]) == 0
    listing = capsys.readouterr().out
    eurosat_line = next(line for line in listing.splitlines() if line.startswith("eurosat "))
    assert " downloaded " in eurosat_line and "not downloaded" not in eurosat_line


def test_cli_downloads_then_does_nothing_and_reports_errors_in_one_line(
    server, monkeypatch, tmp_path, capsys
):
    cli = load_cli()
    monkeypatch.delenv("TL_DATA_DIR", raising=False)
    serve(
        monkeypatch,
        server,
        "pneumoniamnist",
        medmnist_npz(28, {"train": 2, "val": 2, "test": 2}, 1),
    )
    dest = tmp_path / "dest"
    assert cli.main(["pneumoniamnist", "--dest", str(dest), "--quiet", "--retries", "0"]) == 0
    out = capsys.readouterr().out
    assert "pneumoniamnist: ready in" in out and f"export TL_DATA_DIR={dest}" in out
    assert cli.main(["pneumoniamnist", "--dest", str(dest), "--quiet"]) == 0
    assert "already here" in capsys.readouterr().out

    serve(monkeypatch, server, "eurosat", b"PK")
    server.routes.clear()  # the server now answers 404
    assert cli.main(["eurosat", "--dest", str(dest), "--quiet", "--retries", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error: eurosat: HTTP 404 Not Found: http://127.0.0.1:") and "\n" not in err
    )


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        load_cli().main(["imagenet"])
    assert "unknown data set 'imagenet'" in capsys.readouterr().err


def test_a_damaged_prepared_file_is_removed_and_names_the_command_that_fetches_it_again(
    server, monkeypatch, data_root, damaged
):
    serve(
        monkeypatch,
        server,
        "pneumoniamnist",
        medmnist_npz(28, {"train": 4, "val": 2, "test": 2}, 1),
    )
    path = fetch("pneumoniamnist", **FAST)
    path.write_bytes(damaged(path.read_bytes()))
    with pytest.raises(
        DatasetError,
        match=r"was damaged .* has been removed: run `python data_download.py pneumoniamnist",
    ):
        load_pneumoniamnist()
    assert not path.exists()
    # fetched again, whole
    assert len(load_pneumoniamnist(root=None) if fetch("pneumoniamnist", **FAST) else None) == 8


def test_cli_reports_an_unusable_dest_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    assert load_cli().main(["eurosat", "--dest", str(blocker / "data"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"error: cannot write to {blocker / 'data'}")
        and "--dest" in err
        and "\n" not in err
    )
