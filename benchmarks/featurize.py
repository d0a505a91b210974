"""Frozen-network throughput on every runtime, the whole
featurization pipeline, and the share of the machine's peak.

    python benchmarks/featurize.py [--images 512] [--image-size 224] [--batch-size 64] [--rounds 3]
        [--output FILE]

In one process, interleaved rounds (the best round of each kept, so a noisy machine affects all
alike), on the same ELPV images: Keras ``model.predict`` (what a user writes by hand), the
``tf.function`` forward pass, every installed exported runtime (OpenVINO, ONNX Runtime) on the same
preprocessed in-memory batches, and the whole pipeline as the notebooks run it (``frozen_outputs``:
tf.data from ELPV arrays, resizing, the default runtime). Ratios are against the ``tf.function``
forward and against ``model.predict``. The share of peak is MobileNetV2's multiply-adds per image
times images/s, against a dense float32 matrix multiply timed in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.data.datasets import load_elpv  # noqa: E402
from helpers.models.backbones import build_backbone  # noqa: E402
from helpers.models.features import frozen_outputs, image_batches  # noqa: E402
from helpers.models.runtime import FrozenNetwork, available_runtimes, resolve_runtime  # noqa: E402
from helpers.report.results import machine_description  # noqa: E402


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image:
    convolutions, depthwise convolutions and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            total += (
                h * w * c_out * layer.kernel_size[0] * layer.kernel_size[1] * layer.input.shape[-1]
            )
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def matmul_flops(size: int = 2048, repeats: int = 5) -> float:
    """The best float32 FLOP/s of a dense ``size`` x
    ``size`` matrix multiply with TensorFlow on these cores."""
    a = tf.random.uniform((size, size))
    b = tf.random.uniform((size, size))
    multiply = tf.function(lambda: tf.matmul(a, b))
    multiply().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        multiply().numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def images_per_second(run, n_images: int) -> float:
    start = time.perf_counter()
    run()
    return n_images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=None, help="also write the result as JSON here")
    args = parser.parse_args()

    dataset, indices = load_elpv(), np.arange(args.images)
    model = build_backbone("mobilenet_v2", args.image_size)
    batches = [
        np.asarray(batch)
        for batch in image_batches(
            dataset, indices, args.image_size, args.batch_size, with_labels=False
        )
    ]
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    exported = {
        name: FrozenNetwork(model, runtime=name, key=f"benchmark-{args.image_size}px")
        for name in available_runtimes()
        if name != "tensorflow"
    }
    pipeline_network = FrozenNetwork(model, key=f"benchmark-{args.image_size}px")
    runs = {
        "keras_predict": lambda: [model.predict(batch, verbose=0) for batch in batches],
        "tf_function": lambda: [forward(tf.constant(batch)).numpy() for batch in batches],
        **{
            name: (lambda network=network: [network(batch) for batch in batches])
            for name, network in exported.items()
        },
        "pipeline": lambda: frozen_outputs(
            pipeline_network,
            dataset,
            indices,
            args.image_size,
            batch_size=args.batch_size,
            cache=False,
            progress=False,
        ),
    }
    for run in runs.values():  # trace, compile and warm up every path
        run()
    best = dict.fromkeys(runs, 0.0)
    for _ in range(args.rounds):
        for name, run in runs.items():
            best[name] = max(best[name], images_per_second(run, args.images))
    peak = matmul_flops()
    macs = multiply_adds(model)
    result = {
        "command": f"python benchmarks/featurize.py --images {args.images} --image-size "
        f"{args.image_size} --rounds {args.rounds}",
        "machine": machine_description(),
        "images": args.images,
        "image_size": args.image_size,
        "pipeline_runtime": resolve_runtime("auto"),
        "images_per_s": {name: round(value, 1) for name, value in best.items()},
        "pipeline_over_tf_function": round(best["pipeline"] / best["tf_function"], 3),
        "pipeline_over_keras_predict": round(best["pipeline"] / best["keras_predict"], 3),
        "multiply_adds_per_image": macs,
        "matmul_gflops": round(peak / 1e9, 1),
        "share_of_peak": {name: round(2 * macs * value / peak, 3) for name, value in best.items()},
    }
    print(json.dumps(result, indent=2))
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
