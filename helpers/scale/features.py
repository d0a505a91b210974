"""Featurizing a data set on a Dask cluster: partitions of
images in, one Parquet file of features per partition out.

The exported frozen network travels with the job (a few MB: workers need neither the client's disk
nor the package index) and each worker process compiles it once. Every partition is written under a
temporary name and renamed when complete, so an interrupted job resumes with the partitions it
lacks, a damaged partition is named, removed and rewritten, and a task Dask reruns after a worker
died replaces its file with the same rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from helpers.data.datasets import ImageDataset
from helpers.models.runtime import PortableNetwork
from helpers.paths import CacheWarning
from helpers.report.progress import bars_enabled

#: feature columns are f0, f1, ...; the others are the image's index in the data set and its label
ID, LABEL = "image_id", "label"
# per worker process: the compiled network of each job, built once
_COMPILED: dict[str, object] = {}


@dataclass(frozen=True)
class FeatureJob:
    """What a worker needs to featurize any partition: the network and how to feed it."""

    network: PortableNetwork
    image_size: int
    tta_views: int = 1
    batch_size: int = 64


@dataclass
class FeatureRun:
    """A finished job: where its partitions are, how many were written now, and the throughput."""

    folder: Path
    partitions: int
    written: int
    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images * 1.0 / self.seconds if self.seconds else float("nan")


def _source_images(source: str, indices: np.ndarray) -> np.ndarray | list[str]:
    """The images ``indices`` of the data set ``source`` names, loaded once per worker process."""
    from helpers.data.catalog import load_dataset

    if source not in _COMPILED:
        _COMPILED[source] = load_dataset(source)
    dataset = _COMPILED[source]
    return (
        [str(dataset.paths[i]) for i in indices]
        if dataset.images is None
        else dataset.images[indices]
    )


def featurize_partition(
    job: FeatureJob,
    images,
    labels: np.ndarray,
    indices: np.ndarray,
    path: str,
    view: int | None = None,
) -> int:
    """Features of one partition, written to ``path``: ``images`` are the pixels, file paths the
    worker can read, or ``(source, indices)``, a data set name the worker loads itself and the
    images to take from it.

    ``view`` (0-7) featurizes every image in that one
    dihedral view instead of averaging ``job.tta_views``."""
    if isinstance(images, tuple):
        images = _source_images(*images)
    from helpers.models.augment import dihedral_view
    from helpers.models.features import frozen_input_batches

    key = f"{job.network.name}-{job.network.runtime}-{job.network.threads}"
    if key not in _COMPILED:
        _COMPILED[key] = job.network.compile()
    network = _COMPILED[key]
    which = range(job.tta_views) if view is None else [view]
    # file paths or pixels
    source = (
        {"paths": [Path(p) for p in images]} if isinstance(images, list) else {"images": images}
    )
    partition = ImageDataset(
        "partition",
        np.asarray(labels),
        ["unknown"],
        pd.DataFrame(index=range(len(images))),
        **source,
    )
    batches = list(
        frozen_input_batches(partition, np.arange(len(images)), job.image_size, job.batch_size)
    )
    views = [np.concatenate([network(dihedral_view(batch, v)) for batch in batches]) for v in which]
    features = np.mean(views, axis=0).astype(np.float32)
    columns = [np.asarray(indices, dtype=np.int64), np.asarray(labels, dtype=np.int64), *features.T]
    table = pa.Table.from_arrays(
        [pa.array(column) for column in columns],
        names=[ID, LABEL, *(f"f{j}" for j in range(features.shape[1]))],
    )
    tmp = f"{path}.{os.getpid()}.tmp"
    # from arrays: a quarter of the time pandas' to_parquet took for 1,280 columns
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return table.num_rows


def partition_rows(path: Path) -> int | None:
    """Rows of a complete partition file, or None when it is
    missing or damaged (a damaged one is named and removed)."""
    if not path.exists():
        return None
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as error:  # pyarrow raises several kinds for a truncated or foreign file
        warnings.warn(
            f"feature partition {path} is damaged ({type(error).__name__}: "
            f"{error}); removed it, rewriting",
            CacheWarning,
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return None


def featurize_on_cluster(
    client,
    dataset: ImageDataset,
    indices: np.ndarray,
    folder: str | Path,
    network: PortableNetwork,
    *,
    image_size: int,
    tta_views: int = 1,
    views: tuple[int, ...] | None = None,
    partition_size: int = 256,
    batch_size: int = 64,
    source: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> FeatureRun:
    """Featurize ``dataset[indices]`` on the cluster into
    ``folder`` (one Parquet file per ``partition_size`` images).

    ``source`` is the name ``load_dataset`` knows the data set by (``elpv``, ``folder:/path``): each
    worker then loads it itself and tasks carry only indices, so Dask can rerun the task of a worker
    that died anywhere. Without it, file paths or the pixels travel with the tasks (pixels placed on
    a worker that dies are lost with it: the job then fails, and a rerun writes the partitions it
    lacks). ``views`` (e.g. ``range(8)``) makes each image in each of those dihedral views a sample
    of its own (image id ``view * len(dataset) + index``): a larger set from the same images.
    Partitions already written (complete, with the right number of rows) are skipped. ``folder``
    keeps a manifest of what it holds; asking it for other images or another network is an error
    naming the fix. ``overwrite`` empties ``folder`` first and computes every partition (to time a
    job: a resumed one would time only what was missing).
    """
    from distributed import progress as show_progress
    from distributed import wait

    folder, indices = Path(folder), np.asarray(indices)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "network": network.name,
        "image_size": image_size,
        "tta_views": tta_views,
        "partition_size": partition_size,
        "dataset": dataset.fingerprint,
        "indices": hashlib.sha256(indices.astype(np.int64).tobytes()).hexdigest()[:16],
        "views": None if views is None else list(views),
        "source": source,
    }
    stored = folder / "manifest.json"
    if overwrite:
        for path in [stored, *folder.glob("part-*.parquet")]:
            path.unlink(missing_ok=True)
    if stored.exists() and json.loads(stored.read_text()) != manifest:
        raise ValueError(
            f"{folder} holds features of other images or another network: "
            "choose an empty folder or delete it"
        )
    stored.write_text(json.dumps(manifest, indent=2) + "\n")
    bounds = [
        (start, min(start + partition_size, len(indices)))
        for start in range(0, len(indices), partition_size)
    ]
    tasks = [
        (view, start, stop)
        for view in (views if views is not None else [None])
        for start, stop in bounds
    ]
    paths = [folder / f"part-{k:05d}.parquet" for k in range(len(tasks))]
    todo = [
        k for k, (_, start, stop) in enumerate(tasks) if partition_rows(paths[k]) != stop - start
    ]
    start_time = time.perf_counter()
    if todo:
        # the network is a few MB: once in the graph, recomputed if its worker dies
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Large object", category=UserWarning)
            job = client.submit(
                FeatureJob,
                network,
                image_size,
                tta_views,
                batch_size,
                key=f"job-{folder.name}-{manifest['dataset']}",
                pure=False,
            )
        futures = []
        for k in todo:
            view, start, stop = tasks[k]
            part = indices[start:stop]
            if source is not None:
                # the worker loads the data set itself: no data travels, any worker can run it
                images = (source, part)
            elif dataset.images is None:
                images = [str(dataset.paths[i]) for i in part]
            else:
                images = client.scatter(dataset.images[part])
            ids = part if view is None else view * len(dataset) + part
            futures.append(
                client.submit(
                    featurize_partition,
                    job,
                    images,
                    dataset.labels[part],
                    ids,
                    str(paths[k]),
                    view,
                    key=f"featurize-{folder.name}-{k}",
                    retries=2,
                )
            )
        if bars_enabled(progress):
            show_progress(futures)
        wait(futures)
        client.gather(futures)  # raises the first task error, if any
    seconds = time.perf_counter() - start_time
    written_images = sum(tasks[k][2] - tasks[k][1] for k in todo)
    return FeatureRun(folder, len(tasks), len(todo), written_images, seconds)


def read_features(folder: str | Path) -> pd.DataFrame:
    """All partitions of ``folder`` as one pandas DataFrame, sorted by image id."""
    frame = pd.concat(
        [pd.read_parquet(path) for path in sorted(Path(folder).glob("part-*.parquet"))],
        ignore_index=True,
    )
    return frame.sort_values(ID).reset_index(drop=True)


def feature_columns(frame) -> list[str]:
    return [c for c in frame.columns if c not in (ID, LABEL)]
