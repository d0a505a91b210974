"""Featurization on a Dask cluster against one process,
on the same images and cores, in one process run.

    python benchmarks/dask_featurize.py [--images 1024] [--image-size 224] [--partition-size 64]
        [--output FILE]

Measured: single-process ``featurize`` (one runtime using every core) and ``featurize_on_cluster``
on fresh local clusters of 1 and 2 single-threaded workers (each compiles the network once before
the clock starts: the warm-up partitions). The ratios are what the issue asks: 2 workers over 1
worker, and the cluster over one process.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from helpers.data.catalog import load_dataset  # noqa: E402
from helpers.models.features import featurize, frozen_network  # noqa: E402
from helpers.models.runtime import resolve_runtime  # noqa: E402
from helpers.report.results import machine_description  # noqa: E402
from helpers.scale.cluster import connect  # noqa: E402
from helpers.scale.features import featurize_on_cluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--partition-size", type=int, default=64)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    dataset, indices = load_dataset("elpv"), np.arange(args.images)
    network = frozen_network("mobilenet_v2", args.image_size, runtime="openvino").portable(
        threads=1
    )
    # warm up one process
    featurize(dataset, indices[:64], image_size=args.image_size, cache=False, progress=False)
    rates = {
        "single_process": featurize(
            dataset, indices, image_size=args.image_size, cache=False, progress=False
        ).images_per_s
    }
    options = {
        "image_size": args.image_size,
        "partition_size": args.partition_size,
        "source": "elpv",
        "progress": False,
    }
    with tempfile.TemporaryDirectory() as folder:
        for workers in (1, 2):
            with connect(workers=workers) as client:
                featurize_on_cluster(
                    client,
                    dataset,
                    indices[: 2 * args.partition_size],
                    Path(folder) / f"warm-{workers}",
                    network,
                    **options,
                )
                rates[f"dask_{workers}_worker"] = featurize_on_cluster(
                    client, dataset, indices, Path(folder) / f"run-{workers}", network, **options
                ).images_per_s
                client.cluster.close()
    result = {
        "command": f"python benchmarks/dask_featurize.py --images {args.images} --image-size "
        f"{args.image_size} --partition-size {args.partition_size}",
        "machine": machine_description(),
        "single_process_runtime": resolve_runtime("auto"),
        "images": args.images,
        "images_per_s": {name: round(rate, 1) for name, rate in rates.items()},
        "dask_2_over_1_workers": round(rates["dask_2_worker"] / rates["dask_1_worker"], 3),
        "dask_2_workers_over_single_process": round(
            rates["dask_2_worker"] / rates["single_process"], 3
        ),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
