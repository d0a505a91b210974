"""The downloadable data sets (EuroSAT, MedMNIST, UCI
HAR): their files, how each is prepared, and its loader."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.archives import ArchiveError, extract_zip, staging_dir
from helpers.data.datasets import DatasetError, ImageDataset
from helpers.data.downloads import ChecksumMismatchError, Resource, download, human_size
from helpers.data.images import IMAGE_EXTENSIONS
from helpers.paths import DAMAGED_NPZ, data_dir, file_sha256

EUROSAT_CLASSES = [
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
]
PNEUMONIAMNIST_CLASSES = ["normal", "pneumonia"]
CHESTMNIST_FINDINGS = [
    "atelectasis",
    "cardiomegaly",
    "effusion",
    "infiltration",
    "mass",
    "nodule",
    "pneumonia",
    "pneumothorax",
    "consolidation",
    "edema",
    "emphysema",
    "fibrosis",
    "pleural",
    "hernia",
]
MEDMNIST_SPLITS = ("train", "val", "test")
#: UCI HAR's nine raw inertial channels, in the order of the last axis of X.
UCI_HAR_CHANNELS = [
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
]  # fmt: skip
UCI_HAR_STEPS = 128

EUROSAT_LICENSE = "MIT (EuroSAT repository; Copernicus Sentinel-2 data)"
MEDMNIST_LICENSE = "CC BY 4.0"
UCI_HAR_LICENSE = "CC BY 4.0"
_MEDMNIST_CHECKSUMS = "MD5 from MedMNIST 3.0.2 medmnist/info.py"

#: name -> where the prepared data lives, relative to the data directory
PREPARED = {
    "eurosat": "eurosat",
    "pneumoniamnist": "pneumoniamnist/pneumoniamnist_224.npz",
    "chestmnist": "chestmnist/chestmnist_64.npz",
    "uci_har": "uci_har/uci_har.npz",
}
RESOURCES: dict[str, Resource] = {
    "eurosat": Resource(
        # torchvision's EuroSAT loader (MD5 c8fa014336c82ac7804f0398fcb19387);
        # TFDS fetches the same file from DFKI
        "https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
        "EuroSAT.zip",
        size=94280567,
        sha256="8ebea626349354c5328b142b96d0430e647051f26efc2dc974c843f25ecf70bd",
        mirrors=("http://madm.dfki.de/files/sentinel/EuroSAT.zip",),
        checksum_source="size and sha256 from TensorFlow Datasets url_checksums/eurosat.txt",
    ),
    "pneumoniamnist": Resource(
        "https://zenodo.org/records/10519652/files/pneumoniamnist_224.npz?download=1",
        "pneumoniamnist_224.npz",
        md5="d6a3c71de1b945ea11211b03746c1fe1",
        checksum_source=_MEDMNIST_CHECKSUMS,
    ),
    "chestmnist": Resource(
        "https://zenodo.org/records/10519652/files/chestmnist_64.npz?download=1",
        "chestmnist_64.npz",
        md5="9de6cd0b934ebb5b7426cfba5efbae16",
        checksum_source=_MEDMNIST_CHECKSUMS,
    ),
    "uci_har": Resource(
        "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip",
        "human+activity+recognition+using+smartphones.zip",
        checksum_source="UCI publishes none: sha256 recorded on first download "
        "(checksums.json in the data directory)",
    ),
}
#: the archive inside UCI's download, with its published checksum
UCI_HAR_INNER = Resource(
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip",
    "UCI HAR Dataset.zip",
    size=60999314,
    sha256="2045e435c955214b38145fb5fa00776c72814f01b203fec405152dac7d5bfeb0",
    checksum_source="sha256 from MLDatasets.jl / DataDeps registration of UCI HAR",
)
EUROSAT_SIZE = f"27,000 images ({human_size(RESOURCES['eurosat'].size)} zip)"


def fetch_command(name: str) -> str:
    """The exact shell command that fetches ``name`` into the data directory the notebooks read."""
    import os

    from helpers.paths import DATA_DIR_ENV

    command = f"python data_download.py {name}"
    if os.environ.get(DATA_DIR_ENV):
        command += f" --dest {data_dir()}"
    return command


def prepared_path(name: str, root: Path | None = None) -> Path:
    """Where ``name`` lives once prepared, under ``root`` (default: the data directory)."""
    return (Path(root) if root is not None else data_dir()) / PREPARED[name]


# ----------------------------------------------------------------------------- preparation


def prepare(name: str, root: Path, *, keep_archives: bool = False, **options) -> Path:
    """Download, verify and prepare ``name`` under ``root``; a second call returns at once."""
    target = prepared_path(name, root)
    if target.exists():
        return target
    options = {"known_checksums": root / "checksums.json", **options}
    if name == "eurosat":
        return _prepare_eurosat(root, keep_archives=keep_archives, **options)
    if name == "uci_har":
        return _prepare_uci_har(root, keep_archives=keep_archives, **options)
    return _prepare_medmnist(name, root, **options)


def _prepare_eurosat(root: Path, *, keep_archives: bool, **options) -> Path:
    archive = download(RESOURCES["eurosat"], root / "downloads", **options)
    target = prepared_path("eurosat", root)
    try:
        with staging_dir(target) as tmp:
            extract_zip(archive, tmp)
            _eurosat_class_root(tmp)  # raises if the archive does not hold the 10 class folders
    except (ArchiveError, DatasetError) as error:
        archive.unlink(missing_ok=True)
        raise ArchiveError(
            f"{archive.name} is not the EuroSAT archive ({error}); it was removed, "
            f"run `{fetch_command('eurosat')}` again"
        ) from None
    if not keep_archives:
        archive.unlink(missing_ok=True)
    return target


def _prepare_medmnist(name: str, root: Path, **options) -> Path:
    target = prepared_path(name, root)
    path = download(RESOURCES[name], target.parent, **options)
    try:
        with np.load(path) as npz:
            missing = [
                f"{split}_{part}"
                for split in MEDMNIST_SPLITS
                for part in ("images", "labels")
                if f"{split}_{part}" not in npz.files
            ]
    except DAMAGED_NPZ as error:
        missing = [f"a readable npz ({error})"]
    if missing:
        path.unlink(missing_ok=True)
        raise ArchiveError(
            f"{path.name} lacks {', '.join(missing)}; it was removed, "
            f"run `{fetch_command(name)}` again"
        )
    return path


def _prepare_uci_har(root: Path, *, keep_archives: bool, **options) -> Path:
    archive = download(RESOURCES["uci_har"], root / "downloads", **options)
    target = prepared_path("uci_har", root)
    try:
        with staging_dir(target.parent) as tmp:
            with zipfile.ZipFile(archive) as outer:
                names = outer.namelist()
                inner_name = next(
                    (
                        n
                        for n in names
                        if Path(n).name == UCI_HAR_INNER.filename and not n.startswith("__MACOSX")
                    ),
                    None,
                )
                if inner_name is not None:
                    inner_path = tmp / UCI_HAR_INNER.filename
                    with outer.open(inner_name) as source, open(inner_path, "wb") as sink:
                        shutil.copyfileobj(source, sink, 1 << 20)
                    digest = file_sha256(inner_path)
                    if digest != UCI_HAR_INNER.sha256:
                        raise ChecksumMismatchError(
                            f"inner {UCI_HAR_INNER.filename}: sha256 {digest} does not match the "
                            f"published {UCI_HAR_INNER.sha256}"
                        )
                    with zipfile.ZipFile(inner_path) as inner:
                        arrays = _read_uci_har_zip(inner)
                    inner_path.unlink()
                else:
                    arrays = _read_uci_har_zip(outer)
            np.savez(tmp / target.name, **arrays)
            source = {
                "source": "https://archive.ics.uci.edu/dataset/240/human+activity+recognition+using+smartphones",
                "license": UCI_HAR_LICENSE,
                "archive": RESOURCES["uci_har"].url,
                "citation": "Anguita et al., A Public Domain Dataset for Human Activity "
                "Recognition Using Smartphones, ESANN 2013",
            }
            (tmp / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")
    except (zipfile.BadZipFile, KeyError, ValueError, ArchiveError, ChecksumMismatchError) as error:
        archive.unlink(missing_ok=True)
        kind = ChecksumMismatchError if isinstance(error, ChecksumMismatchError) else ArchiveError
        raise kind(
            f"{archive.name} does not hold UCI HAR as expected ({error}); "
            f"it was removed, run `{fetch_command('uci_har')}` again"
        ) from None
    if not keep_archives:
        archive.unlink(missing_ok=True)
    return target


def _read_uci_har_zip(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """Read UCI HAR's raw inertial windows, labels and subjects straight from its zip."""
    labels_member = next(
        (
            n
            for n in archive.namelist()
            if n.endswith("activity_labels.txt") and not n.startswith("__MACOSX")
        ),
        None,
    )
    if labels_member is None:
        raise ArchiveError("no activity_labels.txt in the archive")
    prefix = labels_member.removesuffix("activity_labels.txt")

    def text(member: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(archive.open(prefix + member), encoding="ascii")

    lines = [
        line.split() for line in text("activity_labels.txt").read().splitlines() if line.strip()
    ]
    class_names = [name for _, name in sorted((int(number), name) for number, name in lines)]
    arrays: dict[str, np.ndarray] = {
        "class_names": np.array(class_names),
        "channel_names": np.array(UCI_HAR_CHANNELS),
    }
    for split in ("train", "test"):
        channels = [
            np.loadtxt(
                text(f"{split}/Inertial Signals/{channel}_{split}.txt"), dtype=np.float32, ndmin=2
            )
            for channel in UCI_HAR_CHANNELS
        ]
        X = np.stack(channels, axis=-1)
        y = np.loadtxt(text(f"{split}/y_{split}.txt"), dtype=np.int64, ndmin=1) - 1
        subjects = np.loadtxt(text(f"{split}/subject_{split}.txt"), dtype=np.int64, ndmin=1)
        if (
            X.shape[1:] != (UCI_HAR_STEPS, len(UCI_HAR_CHANNELS))
            or len(y) != len(X)
            or len(subjects) != len(X)
        ):
            raise ArchiveError(
                f"{split} windows have shape {X.shape}, labels {len(y)}, subjects {len(subjects)}"
            )
        if y.min() < 0 or y.max() >= len(class_names):
            raise ArchiveError(f"{split} labels outside 1..{len(class_names)}")
        arrays.update({f"X_{split}": X, f"y_{split}": y, f"subject_{split}": subjects})
    return arrays


# ----------------------------------------------------------------------------- loaders


def _not_downloaded(name: str, path: Path) -> DatasetError:
    return DatasetError(
        f"{name} is not downloaded (looked for {path}): run `{fetch_command(name)}`"
    )


def _eurosat_class_root(root: Path) -> Path:
    """The folder under ``root`` that holds EuroSAT's
    10 class folders (``2750/`` in the official zip)."""
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir()]
    for candidate in candidates:
        if all((candidate / name).is_dir() for name in EUROSAT_CLASSES):
            return candidate
    raise DatasetError(
        f"{root} does not hold EuroSAT's class folders ({', '.join(EUROSAT_CLASSES[:3])}, ...)"
    )


def load_eurosat(root: Path | None = None) -> ImageDataset:
    """EuroSAT RGB: 64x64 JPEG paths, labels = index of the class folder in ``EUROSAT_CLASSES``."""
    folder = prepared_path("eurosat", root)
    if not folder.is_dir():
        raise _not_downloaded("eurosat", folder)
    try:
        class_root = _eurosat_class_root(folder)
    except DatasetError as error:
        raise DatasetError(
            f"{error}: delete {folder} and run `{fetch_command('eurosat')}`"
        ) from None
    paths, labels = [], []
    for label, name in enumerate(EUROSAT_CLASSES):
        files = sorted(
            p
            for p in (class_root / name).iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(
            f"{class_root} holds no images: delete {folder} and run `{fetch_command('eurosat')}`"
        )
    meta = pd.DataFrame(
        {"path": [str(p) for p in paths], "class_name": [EUROSAT_CLASSES[i] for i in labels]}
    )
    return ImageDataset(
        "eurosat",
        np.asarray(labels),
        list(EUROSAT_CLASSES),
        meta,
        paths=paths,
        license=EUROSAT_LICENSE,
    )


def _load_medmnist(name: str, root: Path | None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    path = prepared_path(name, root)
    if not path.exists():
        raise _not_downloaded(name, path)
    try:
        with np.load(path) as npz:
            images = np.concatenate([npz[f"{split}_images"] for split in MEDMNIST_SPLITS])
            labels = np.concatenate([npz[f"{split}_labels"] for split in MEDMNIST_SPLITS])
            split = np.concatenate(
                [[split] * len(npz[f"{split}_labels"]) for split in MEDMNIST_SPLITS]
            )
    except DAMAGED_NPZ as error:
        path.unlink(missing_ok=True)
        raise DatasetError(
            f"{path} was damaged ({error}) and has been removed: run `{fetch_command(name)}` to "
            "fetch it again"
        ) from None
    if labels.ndim == 1:
        labels = labels[:, None]
    return images, labels, pd.DataFrame({"split": split})


def load_pneumoniamnist(root: Path | None = None) -> ImageDataset:
    """PneumoniaMNIST (224x224 grayscale, uint8), labels
    0 normal / 1 pneumonia, ``meta["split"]`` official."""
    images, labels, meta = _load_medmnist("pneumoniamnist", root)
    labels = labels[:, 0].astype(int)
    meta["label"] = labels
    return ImageDataset(
        "pneumoniamnist",
        labels,
        list(PNEUMONIAMNIST_CLASSES),
        meta,
        images=images,
        license=MEDMNIST_LICENSE,
    )


def load_chestmnist(root: Path | None = None) -> ImageDataset:
    """ChestMNIST (64x64 grayscale): label 1 if any of the
    14 findings is present; each finding a 0/1 meta column."""
    images, labels, meta = _load_medmnist("chestmnist", root)
    if labels.shape[1] != len(CHESTMNIST_FINDINGS):
        raise DatasetError(
            f"chestmnist labels have {labels.shape[1]} columns, expected {len(CHESTMNIST_FINDINGS)}"
        )
    for column, finding in enumerate(CHESTMNIST_FINDINGS):
        meta[finding] = labels[:, column].astype(int)
    binary = (labels.sum(axis=1) > 0).astype(int)
    return ImageDataset(
        "chestmnist",
        binary,
        ["no finding", "finding"],
        meta,
        images=images,
        license=MEDMNIST_LICENSE,
    )


def load_uci_har(
    root: Path | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """UCI HAR's official split: ``X_train, y_train, X_test, y_test, class_names, channel_names``.

    X is float32 (n, 128, 9) (time, channel; channels in ``UCI_HAR_CHANNELS`` order), y int 0..5 in
    the order of ``activity_labels.txt`` (WALKING first).
    """
    path = prepared_path("uci_har", root)
    if not path.exists():
        raise _not_downloaded("uci_har", path)
    try:
        with np.load(path) as npz:
            arrays = {
                key: npz[key]
                for key in (
                    "X_train",
                    "y_train",
                    "X_test",
                    "y_test",
                    "class_names",
                    "channel_names",
                )
            }
    except DAMAGED_NPZ as error:
        path.unlink(missing_ok=True)
        raise DatasetError(
            f"{path} was damaged ({error}) and has been removed: run `{fetch_command('uci_har')}` "
            "to prepare it again"
        ) from None
    return (
        arrays["X_train"].astype(np.float32),
        arrays["y_train"].astype(int),
        arrays["X_test"].astype(np.float32),
        arrays["y_test"].astype(int),
        [str(c) for c in arrays["class_names"]],
        [str(c) for c in arrays["channel_names"]],
    )
