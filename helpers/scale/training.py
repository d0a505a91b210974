"""LightGBM trained on the cluster, on Parquet features, with LightGBM's own Dask module."""

from __future__ import annotations

import warnings
from pathlib import Path

from helpers.scale.features import ID, LABEL


def train_lightgbm(client, folder: str | Path, **parameters):
    """A ``lightgbm.DaskLGBMClassifier`` fitted on the partitions in ``folder``, each worker
    training on the ones it holds."""
    import dask.dataframe as dd
    from lightgbm import DaskLGBMClassifier

    # one partition per file, kept on the workers
    frame = dd.read_parquet(str(Path(folder) / "part-*.parquet")).persist()
    columns = [c for c in frame.columns if c not in (ID, LABEL)]
    X, y = (
        frame[columns].to_dask_array().compute_chunk_sizes(),
        frame[LABEL].to_dask_array().compute_chunk_sizes(),
    )
    # LightGBM's Dask module warns that it ignores n_jobs: each worker uses its threads
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        return DaskLGBMClassifier(client=client, **parameters).fit(X, y)
