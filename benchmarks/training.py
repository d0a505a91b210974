"""Training throughput of notebook 03's recipe, stage 1 and stage 2, in one process.

Measures training images/s (forward + backward + update, after a warm-up step) of:

* ``stage1_images``: head only, backbone frozen, on images (the plain path);
* ``stage2_images``: top blocks unfrozen (above ``FINE_TUNE_FROM``), on images;
* ``cache_maps``: the frozen lower part's forward pass that the CPU path runs once per image and view;
* ``stage1_cached``: the head on cached pooled features;
* ``stage2_cached``: the top blocks on cached feature maps.

Usage: ``python benchmarks/training.py``.
Prints a table and writes JSON (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.models import FINE_TUNE_FROM, build_gap_classifier, freeze_all, head_model, layers_above, split_at, unfreeze_top  # noqa: E402
from helpers.training import compile_classifier, configure_devices  # noqa: E402


def _train_rate(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int) -> float:
    compile_classifier(model, 1e-4)
    model.train_on_batch(x[:batch_size], y[:batch_size])  # warm-up: tracing and allocation
    start = time.perf_counter()
    for step in range(steps):
        i = (step * batch_size) % (len(x) - batch_size + 1)
        model.train_on_batch(x[i : i + batch_size], y[i : i + batch_size])
    return steps * batch_size / (time.perf_counter() - start)


def _forward_rate(model: keras.Model, x: np.ndarray, batch_size: int, steps: int) -> tuple[float, np.ndarray]:
    forward = tf.function(lambda images: model(images, training=False))
    forward(x[:batch_size])
    outputs, start = [], time.perf_counter()
    for step in range(steps):
        i = (step * batch_size) % (len(x) - batch_size + 1)
        outputs.append(np.asarray(forward(x[i : i + batch_size])))
    return steps * batch_size / (time.perf_counter() - start), np.concatenate(outputs)


def run(image_size: int, batch_size: int, steps: int, backbone: str = "mobilenet_v2", fine_tune_from: str | None = None) -> dict:
    setup = configure_devices()
    rng = np.random.default_rng(0)
    n = batch_size * 2
    images = rng.uniform(0, 255, (n, image_size, image_size, 3)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    cut = fine_tune_from or FINE_TUNE_FROM[backbone]
    with setup.strategy.scope():
        model = build_gap_classifier(2, backbone, image_size)
    lower, upper = split_at(model, cut)
    rates = {}
    freeze_all(model)
    rates["stage1_images"] = _train_rate(model, images, labels, batch_size, steps)
    rates["cache_maps"], maps = _forward_rate(lower, images, batch_size, steps)
    pooled = keras.Model(model.get_layer(cut).output, model.get_layer("gap").output).predict(maps, verbose=0)
    rates["stage1_cached"] = _train_rate(head_model(model), pooled, np.resize(labels, len(pooled)), batch_size, steps * 10)
    unfreeze_top(model, layers_above(model, cut))
    rates["stage2_images"] = _train_rate(model, images, labels, batch_size, steps)
    rates["stage2_cached"] = _train_rate(upper, maps, np.resize(labels, len(maps)), batch_size, steps)
    return {
        "backbone": backbone,
        "image_size": image_size,
        "batch_size": batch_size,
        "steps": steps,
        "fine_tune_from": cut,
        "device": setup.describe(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
        "images_per_s": {name: round(rate, 1) for name, rate in rates.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--fine-tune-from", default=None, help="layer above which stage 2 trains (default: helpers.models.FINE_TUNE_FROM)")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per measurement")
    parser.add_argument("--output", default="outputs/benchmarks/training.json")
    args = parser.parse_args()
    result = run(args.image_size, args.batch_size, args.steps, fine_tune_from=args.fine_tune_from)
    print(f"{result['backbone']} at {args.image_size} px, batch {args.batch_size}, stage 2 above {result['fine_tune_from']}, {result['device']}")
    for name, rate in result["images_per_s"].items():
        print(f"  {name:15s} {rate:8.1f} images/s")
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
