"""Featurization throughput: the whole tf.data pipeline against the bare model forward, in one process.

    python benchmarks/featurize.py [--images 512] [--image-size 224] [--batch-size 64]

Both runs use the same backbone and the same compiled forward function; the
bare run feeds preprocessed, already resized in-memory tensors. The ratio
(pipeline / bare) says how much the input pipeline costs: 1.0 means nothing.
The two are interleaved over several rounds (best round kept) so a noisy
machine affects both alike.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import tensorflow as tf

from helpers.backbones import build_backbone
from helpers.datasets import load_elpv
from helpers.features import image_batches


def images_per_second(run, n_images: int) -> float:
    start = time.perf_counter()
    run()
    return n_images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    dataset = load_elpv()
    indices = np.arange(args.images)
    model = build_backbone("mobilenet_v2", args.image_size)
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    pipeline = image_batches(dataset, indices, args.image_size, args.batch_size, with_labels=False)
    in_memory = [tf.constant(batch) for batch in pipeline]  # resized RGB batches, materialized once

    def run_pipeline() -> None:
        for batch in image_batches(dataset, indices, args.image_size, args.batch_size, with_labels=False):
            forward(batch).numpy()

    def run_bare() -> None:
        for batch in in_memory:
            forward(batch).numpy()

    run_bare()  # trace and warm up both paths
    run_pipeline()
    bare, piped = [], []
    for _ in range(args.rounds):
        bare.append(images_per_second(run_bare, args.images))
        piped.append(images_per_second(run_pipeline, args.images))
    result = {
        "images": args.images,
        "image_size": args.image_size,
        "bare_forward_images_per_s": round(max(bare), 1),
        "pipeline_images_per_s": round(max(piped), 1),
        "pipeline_over_bare": round(max(piped) / max(bare), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
