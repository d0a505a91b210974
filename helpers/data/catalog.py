"""The one registry of data sets: what each is, where
it comes from, how to fetch it, and how to load it."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers.checks import suggest
from helpers.data import remote
from helpers.data.datasets import DatasetError, ImageDataset, load_elpv, load_image_folder
from helpers.data.series import SeriesDataset, load_series
from helpers.paths import data_dir


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of the catalog: what the data set is, where it comes from, and how it loads."""

    name: str
    domain: str
    kind: str  # "image" or "timeseries"
    description: str
    size: str
    license: str
    source: str
    loader: Callable[[], ImageDataset | SeriesDataset]
    #: the Python package an offline set comes with; None for a downloadable set
    package: str | None = None
    #: published test accuracies on this data set (their protocol, not ours): name -> accuracy
    published: tuple[tuple[str, float], ...] = ()

    @property
    def downloadable(self) -> bool:
        return self.name in remote.RESOURCES


CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "elpv",
            "industrial (solar-cell EL images)",
            "image",
            "2,624 grayscale 300x300 electroluminescence images of solar cells, "
            "defect probability 0-1",
            "2,624 images (91 MB wheel)",
            "CC BY-NC-SA 4.0",
            "https://github.com/zae-bayern/elpv-dataset",
            load_elpv,
            package="elpv_dataset",
            published=(
                ("SVM on hand-crafted features (Deitsch et al. 2019)", 0.8244),
                ("fine-tuned VGG19, GPU (Deitsch et al. 2019)", 0.8842),
            ),
        ),
        DatasetInfo(
            "eurosat",
            "satellite (Sentinel-2 RGB)",
            "image",
            "EuroSAT RGB: 27,000 64x64 land-use images in 10 classes",
            remote.EUROSAT_SIZE,
            remote.EUROSAT_LICENSE,
            "https://github.com/phelber/EuroSAT",
            remote.load_eurosat,
        ),
        DatasetInfo(
            "pneumoniamnist",
            "medical (pediatric chest X-ray)",
            "image",
            "PneumoniaMNIST at 224x224 (MedMNIST+): 5,856 grayscale X-rays, "
            "normal vs pneumonia, official train/val/test split",
            "5,856 images (about 0.3 GB npz)",
            remote.MEDMNIST_LICENSE,
            "https://medmnist.com/ (zenodo.org/records/10519652)",
            remote.load_pneumoniamnist,
        ),
        DatasetInfo(
            "chestmnist",
            "medical (chest X-ray, NIH ChestX-ray14)",
            "image",
            "ChestMNIST at 64x64 (MedMNIST+): 112,120 X-rays with 14 findings; "
            "label = any finding vs none, findings in meta",
            "112,120 images (about 0.5 GB npz)",
            remote.MEDMNIST_LICENSE,
            "https://medmnist.com/ (zenodo.org/records/10519652)",
            remote.load_chestmnist,
        ),
        DatasetInfo(
            "basic_motions",
            "IoT sensors (smartwatch)",
            "timeseries",
            "BasicMotions: 3-axis accelerometer + gyroscope, 6 channels x 100 steps, "
            "4 activities, 40/40",
            "80 series (bundled with aeon)",
            "UEA archive (cite Bagnall et al. 2018); aeon BSD-3-Clause",
            "https://www.timeseriesclassification.com/description.php?Dataset=BasicMotions",
            lambda: load_series("basic_motions"),
            package="aeon",
        ),
        DatasetInfo(
            "japanese_vowels",
            "IoT / audio sensors",
            "timeseries",
            "JapaneseVowels: 12 LPC channels, variable length 7-29, 9 speakers, 270/370",
            "640 series (bundled with aeon)",
            "CC BY 4.0 (UCI); aeon BSD-3-Clause",
            "https://archive.ics.uci.edu/dataset/128/japanese+vowels",
            lambda: load_series("japanese_vowels"),
            package="aeon",
        ),
        DatasetInfo(
            "uci_har",
            "IoT sensors (smartphone)",
            "timeseries",
            "UCI HAR: waist smartphone accelerometer + gyroscope, 9 channels x 128 steps, "
            "6 activities, 7,352/2,947",
            "10,299 windows (61 MB zip)",
            remote.UCI_HAR_LICENSE,
            "https://archive.ics.uci.edu/dataset/240/human+activity+recognition+using+smartphones",
            lambda: load_series("uci_har"),
        ),
    ]
}
IMAGE_DATASETS = [name for name, info in CATALOG.items() if info.kind == "image"]


def load_dataset(spec: str) -> ImageDataset:
    """An image data set by name (``elpv``, ``eurosat``,
    ...) or ``folder:/path`` (one sub-folder per class)."""
    if spec.startswith("folder:"):
        return load_image_folder(spec.removeprefix("folder:"))
    if spec == "elpv-level":
        return load_elpv("level")
    if spec not in IMAGE_DATASETS:
        raise DatasetError(
            f"unknown image data set {spec!r}{suggest(spec, IMAGE_DATASETS)}: "
            f"use one of {IMAGE_DATASETS} or 'folder:/path/to/images'"
        )
    return CATALOG[spec].loader()


def published_results(name: str) -> dict[str, float]:
    """Published test accuracies on a data set (their
    split and protocol); empty for sets we know none of."""
    return dict(CATALOG[name].published) if name in CATALOG else {}


def downloadable() -> list[str]:
    """Names of the data sets ``fetch`` downloads."""
    return [name for name, info in CATALOG.items() if info.downloadable]


def status(name: str, root: Path | None = None) -> str:
    """``offline``, ``downloaded``, ``not downloaded`` or ``missing package X``."""
    info = CATALOG[name]
    if info.package is not None:
        return (
            "offline"
            if importlib.util.find_spec(info.package)
            else f"missing package {info.package}"
        )
    return "downloaded" if remote.prepared_path(name, root).exists() else "not downloaded"


def fetch(
    name: str, root: Path | None = None, *, keep_archives: bool = False, **download_options
) -> Path | None:
    """Download and prepare ``name`` under ``root`` (default
    ``data_dir()``); return where it is (None if offline)."""
    if name not in CATALOG:
        raise DatasetError(
            f"unknown data set {name!r}{suggest(name, list(CATALOG))}: "
            "`python data_download.py --list` shows the known names"
        )
    if not CATALOG[name].downloadable:
        return None
    return remote.prepare(
        name,
        Path(root) if root is not None else data_dir(),
        keep_archives=keep_archives,
        **download_options,
    )
