"""Where a fine-tuning step's time goes on this CPU, and what bfloat16 and XLA buy.

    python benchmarks/train_step.py [--steps 12] [--rounds 3] [--output FILE]

The trainable upper parts the notebooks fine-tune on cached feature maps: notebook 03's stage 2
(above ``block_5_add`` at 300 px: the full profile; above ``block_12_add`` at 160 px: the
workshop) and notebook 04's mosaic model (above ``block_15_add``, 288-px mosaics). For each, in one
process and in interleaved rounds (the best round kept, so a noisy machine affects every arm
alike): the forward pass, forward and backward, and the whole ``train_on_batch`` step (the rest is
the optimizer and Keras' overhead), plus the input pipeline (one ``ViewSampler`` batch), under
float32 and ``mixed_bfloat16`` with and without XLA (``jit_compile=True``), and with the frozen
BatchNorm folded into the convolutions (``helpers.models.folding``), computed in float32 or in
bfloat16. Images/s of the whole step and each arm's ratio against float32 are recorded with the
machine and its bf16/VNNI flags. ``--by-op`` also traces forward + backward of each arm with
TensorFlow's profiler and records each op type's share of the summed op time (shares, because
ops on the two cores overlap): which kernels are left to speed up.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import glob
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `make` runs the notebooks

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.models.folding import fold_frozen_batchnorm  # noqa: E402
from helpers.models.gap import build_gap_classifier, split_at  # noqa: E402
from helpers.models.runtime import cpu_flags  # noqa: E402
from helpers.models.training import ViewSampler  # noqa: E402
from helpers.report.records import git  # noqa: E402
from helpers.report.results import machine_description  # noqa: E402

#: name -> (image size, cut layer, classes, batch size): the steps the notebooks train
SETTINGS = {
    "03_full": (300, "block_5_add", 2, 32),
    "03_workshop": (160, "block_12_add", 2, 32),
    "04_mosaics": (288, "block_15_add", 2, 32),
}
#: arm -> (Keras dtype policy, jit_compile, folding precision or None: BatchNorm not folded)
ARMS = {
    "float32": ("float32", False, None),
    "bfloat16": ("mixed_bfloat16", False, None),
    "float32_xla": ("float32", True, None),
    "bfloat16_xla": ("mixed_bfloat16", True, None),
    "folded": ("float32", False, "float32"),
    "folded_bfloat16": ("float32", False, "bfloat16"),
}


def upper_part(setting: str, policy: str, jit: bool, fold: str | None) -> keras.Model:
    """The trainable upper part of ``setting`` under ``policy`` (its frozen BatchNorm folded at
    precision ``fold`` unless None), compiled as the notebooks do."""
    size, cut, classes, _ = SETTINGS[setting]
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_gap_classifier(classes, "mobilenet_v2", size)
        names = [layer.name for layer in model.layers]
        for layer in model.layers[names.index(cut) + 1 :]:
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
        _, upper = split_at(model, cut)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    if fold is not None:
        upper = fold_frozen_batchnorm(upper, fold)
    upper.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy", jit_compile=jit)
    return upper


def best_seconds(run, steps: int) -> float:
    """Seconds per call of ``run``, after one warm-up call (compilation), over ``steps`` calls."""
    run()
    start = time.perf_counter()
    for _ in range(steps):
        run()
    return (time.perf_counter() - start) / steps


def measure(setting: str, arm: str, steps: int) -> dict[str, float]:
    """Seconds per batch of the forward pass, forward + backward, the whole step and the input."""
    policy, jit, fold = ARMS[arm]
    model = upper_part(setting, policy, jit, fold)
    batch = SETTINGS[setting][3]
    shape = model.input_shape[1:]
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 6, (1, batch * 4, *shape)).astype("float16")
    targets = np.eye(SETTINGS[setting][2], dtype="float32")[rng.integers(0, 2, batch * 4)]
    sampler = ViewSampler(maps, targets, batch, seed=0)
    x, y = sampler[0]
    x = tf.constant(x)

    @tf.function(jit_compile=jit)
    def forward():
        return model(x, training=True)

    @tf.function(jit_compile=jit)
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = keras.losses.categorical_crossentropy(y, model(x, training=True))
        return tape.gradient(loss, model.trainable_weights)

    return {
        "input": best_seconds(lambda: sampler[1], steps),
        "forward": best_seconds(lambda: forward(), steps),
        "forward_backward": best_seconds(lambda: forward_backward(), steps),
        "step": best_seconds(lambda: model.train_on_batch(x, y), steps),
    }


def op_shares(setting: str, arm: str, steps: int, top: int = 12) -> dict[str, float]:
    """Each op type's share of the op time of forward + backward under ``arm``, from a trace of
    ``steps`` batches (the ``top`` largest, the rest summed as ``other``)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    policy, jit, fold = ARMS[arm]
    model = upper_part(setting, policy, jit, fold)
    batch, classes = SETTINGS[setting][3], SETTINGS[setting][2]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 6, (batch, *model.input_shape[1:])).astype("float32"))
    y = np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)]

    @tf.function(jit_compile=jit)
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = keras.losses.categorical_crossentropy(y, model(x, training=True))
        return tape.gradient(loss, model.trainable_weights)

    forward_backward()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            forward_backward()
        tf.profiler.experimental.stop()
        traces = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        if not traces:
            raise SystemExit(f"TensorFlow's profiler wrote no trace for {setting}, {arm}")
        space = xplane_pb2.XSpace()
        with open(traces[0], "rb") as f:
            space.ParseFromString(f.read())
    totals: collections.Counter = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events if line.name.startswith("tf_Compute") else []:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "op name:OpType", one per kernel run
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps
    total = sum(totals.values())
    shares = {op: t / total for op, t in totals.most_common(top)}
    return {**shares, "other": 1.0 - sum(shares.values())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--output", default=None)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--by-op", action="store_true", help="also trace each arm's op types")
    args = parser.parse_args(argv)
    settings = args.settings.split(",")
    flags = cpu_flags()
    arms = [a for a in args.arms.split(",") if "bfloat16" not in a or "avx512_bf16" in flags]
    best: dict[str, dict[str, dict[str, float]]] = {s: {} for s in settings}
    for _ in range(args.rounds):
        for setting in settings:
            for arm in arms:
                seconds = measure(setting, arm, args.steps)
                kept = best[setting].get(arm)
                if kept is None or seconds["step"] < kept["step"]:
                    best[setting][arm] = seconds
    by_op = {}
    if args.by_op:  # XLA runs the step as one compiled cluster: no op types to share it out
        traced = [arm for arm in arms if not ARMS[arm][1]]
        by_op = {s: {arm: op_shares(s, arm, args.steps) for arm in traced} for s in settings}
    record = {
        "command": " ".join(["python benchmarks/train_step.py", *(argv or sys.argv[1:])]),
        "commit": git("rev-parse", "HEAD"),
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16"}),
        "tf_enable_onednn_opts": os.environ["TF_ENABLE_ONEDNN_OPTS"],
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "seconds_per_batch": best,
        **({"forward_backward_op_shares": by_op} if args.by_op else {}),
        "images_per_s": {
            s: {arm: SETTINGS[s][3] / t["step"] for arm, t in arms_.items()}
            for s, arms_ in best.items()
        },
        "over_float32": {
            s: {arm: arms_["float32"]["step"] / t["step"] for arm, t in arms_.items()}
            for s, arms_ in best.items()
        },
    }
    print(json.dumps(record, indent=2))
    if args.output:
        with open(args.output, "w") as f:
            f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


if __name__ == "__main__":
    main()
