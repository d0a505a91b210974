"""Frozen networks on the fastest inference runtime at hand:
ONNX Runtime or OpenVINO on a CPU, TensorFlow on a GPU.

A frozen network never trains, so nothing ties its forward pass to TensorFlow. ``FrozenNetwork``
exports the Keras model with Keras' own ``model.export`` (``format="openvino"`` or ``"onnx"``),
caches the export keyed by what determines its weights (written atomically with a checksum manifest;
a damaged export is named, removed and rebuilt) and runs batches on that runtime with a fixed number
of threads. ``runtime="auto"`` (the default, or ``$TL_RUNTIME``) takes TensorFlow when a GPU is
visible, else ONNX Runtime, else OpenVINO, else TensorFlow: the order measured on the 2-core AVX2
CPU here (``benchmarks/featurize.py``), where ONNX Runtime ran MobileNetV2, and its lower part at
the sizes and layers of notebooks 03 and 04, as fast as OpenVINO or up to 1.3 times faster (from run
to run). A model whose export a runtime cannot run takes the next one under ``auto``: tf2onnx makes
the constants of a ``Normalization`` layer (notebook 03's lesson model has one) extra ONNX inputs,
so such a model runs on OpenVINO. ``network.runtime`` says which ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from helpers.paths import cache_dir, discard_damaged, file_sha256

RUNTIME_ENV = "TL_RUNTIME"
RUNTIMES = ("onnxruntime", "openvino", "tensorflow")
_MODULES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "tensorflow": "tensorflow"}
_EXPORT = {
    "openvino": ("openvino", "model.xml", ("model.xml", "model.bin")),
    "onnxruntime": ("onnx", "model.onnx", ("model.onnx",)),
}


class UnsupportedExport(RuntimeError):
    """A runtime cannot run this model's export (``runtime="auto"`` then takes the next runtime)."""


def available_runtimes() -> list[str]:
    """The runtimes installed here, fastest first on a CPU."""
    return [name for name in RUNTIMES if importlib.util.find_spec(_MODULES[name]) is not None]


def resolve_runtime(runtime: str | None = "auto") -> str:
    """The runtime ``auto`` stands for here (``$TL_RUNTIME``
    first), or ``runtime`` checked to be installed."""
    runtime = runtime or "auto"
    if runtime == "auto":
        runtime = os.environ.get(RUNTIME_ENV) or "auto"
    if runtime == "auto":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return "tensorflow"
        return available_runtimes()[0]
    if runtime not in RUNTIMES:
        raise ValueError(
            f"unknown runtime {runtime!r} (from the argument or ${RUNTIME_ENV}): "
            f"choose auto or one of {RUNTIMES}"
        )
    if runtime not in available_runtimes():
        raise ValueError(
            f"runtime {runtime!r} is not installed here: choose one of {available_runtimes()} "
            "(or install its package)"
        )
    return runtime


def default_threads() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_info(cpuinfo: str | None = None) -> dict[str, str]:
    """The fields of the first processor of /proc/cpuinfo (``cpuinfo``: its text), or none."""
    if cpuinfo is None:
        source = Path("/proc/cpuinfo")
        cpuinfo = source.read_text() if source.exists() else ""
    first = cpuinfo.split("\n\n")[0].splitlines()
    fields = dict(line.split(":", 1) for line in first if ":" in line)
    return {name.strip(): value.strip() for name, value in fields.items()}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's instruction-set flags (``avx2``, ``avx512f``, ``avx512_bf16``, ...)."""
    return set(cpu_info(cpuinfo).get("flags", "").split())


class FrozenNetwork:
    """A frozen Keras model compiled for inference:
    ``network(images)`` returns its outputs as a numpy array.

    ``key`` names the model's weights and shape for the export cache (e.g. backbone, weights
    fingerprint, image size, layer); without one the export lives in a temporary folder for this
    object only.
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        runtime: str | None = "auto",
        key: str | None = None,
        threads: int | None = None,
    ):
        self.model = model
        self.threads = threads or default_threads()
        self.key = key
        self._temporary: tempfile.TemporaryDirectory | None = None
        chosen = resolve_runtime(runtime)
        automatic = (runtime or "auto") == "auto" and os.environ.get(RUNTIME_ENV, "auto") in (
            "",
            "auto",
        )
        for self.runtime in [
            chosen,
            *(name for name in available_runtimes() if automatic and name != chosen),
        ]:
            try:
                self._run = self._compile()
                return
            except UnsupportedExport as error:
                if not automatic:
                    raise ValueError(
                        f"{error}: choose another runtime, e.g. runtime='openvino' "
                        "(or 'auto', which does)"
                    ) from None

    def __call__(self, images) -> np.ndarray:
        return self._run(np.ascontiguousarray(images, dtype=np.float32))

    def portable(self, threads: int = 1) -> PortableNetwork:
        """The exported model as bytes, to run where this machine's
        disk and TensorFlow model are not (a Dask worker)."""
        if self.runtime == "tensorflow":
            raise ValueError(
                "a TensorFlow network is not exported: "
                "choose runtime='openvino' or 'onnxruntime' to ship it"
            )
        folder = self._exported()
        return PortableNetwork(
            self.runtime,
            {name: (folder / name).read_bytes() for name in _EXPORT[self.runtime][2]},
            threads,
            self.key or self.model.name,
        )

    def predict(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Outputs for a large array, ``batch_size`` rows at a time."""
        return np.concatenate(
            [self(X[start : start + batch_size]) for start in range(0, len(X), batch_size)]
        )

    def __repr__(self) -> str:
        return f"FrozenNetwork({self.model.name}, runtime={self.runtime!r}, threads={self.threads})"

    def _compile(self) -> Callable[[np.ndarray], np.ndarray]:
        if self.runtime == "tensorflow":
            import tensorflow as tf

            forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
            return lambda x: np.asarray(forward(tf.constant(x)))
        if self.runtime == "onnxruntime":
            _check_onnx_exportable(self.model)
        folder = self._exported()
        if self.runtime == "openvino":
            import openvino as ov

            compiled = ov.Core().compile_model(
                str(folder / "model.xml"), "CPU", _openvino_config(self.threads)
            )
            return lambda x: np.asarray(compiled(x)[0])
        import onnxruntime as ort

        session = ort.InferenceSession(
            str(folder / "model.onnx"),
            _onnx_options(self.threads),
            providers=["CPUExecutionProvider"],
        )
        inputs = [node.name for node in session.get_inputs()]
        # tf2onnx turns tensors the model captured (a
        # Normalization layer's mean and variance) into inputs
        if len(inputs) != 1:
            raise UnsupportedExport(
                f"the ONNX export of {self.model.name} asks for {len(inputs)} inputs, "
                f"not 1 ({', '.join(inputs[1:])})"
            )
        return lambda x: session.run(None, {inputs[0]: x})[0]

    def _exported(self) -> Path:
        """The folder of the exported model: from the cache when intact, else exported now."""
        form, main_file, files = _EXPORT[self.runtime]
        if self.key is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="frozen-")
            folder = Path(self._temporary.name) / "export"
            _export(self.model, folder, form, main_file, files)
            return folder
        folder = cache_dir("runtimes") / f"{self.key}-{self.runtime}"
        if folder.exists():
            try:
                _verify(folder, files)
                return folder
            except (OSError, ValueError, KeyError) as error:
                discard_damaged(folder / "manifest.json", error, "exported model")
                shutil.rmtree(folder, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            _export(self.model, staging, form, main_file, files)
            os.replace(staging, folder)
        except OSError:
            if not folder.exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder


@dataclass(frozen=True)
class PortableNetwork:
    """An exported frozen network as bytes (a few MB), compiled wherever it is unpickled:
    ``compile()`` returns the callable that maps a batch of images to outputs, with ``threads``
    inference threads."""

    runtime: str
    files: dict[str, bytes]
    threads: int
    name: str

    def compile(self) -> Callable[[np.ndarray], np.ndarray]:
        if self.runtime == "openvino":
            import openvino as ov

            core = ov.Core()
            model = core.read_model(
                self.files["model.xml"], ov.Tensor(np.frombuffer(self.files["model.bin"], np.uint8))
            )
            compiled = core.compile_model(model, "CPU", _openvino_config(self.threads))
            return _per_thread_requests(compiled)
        import onnxruntime as ort

        session = ort.InferenceSession(
            self.files["model.onnx"],
            _onnx_options(self.threads),
            providers=["CPUExecutionProvider"],
        )
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _per_thread_requests(compiled) -> Callable[[np.ndarray], np.ndarray]:
    """The compiled OpenVINO model as a function that threads may call at once (a worker with
    several threads): one infer request per thread, since one request serves one call at a time
    ("Infer Request is busy")."""
    local = threading.local()

    def infer(x: np.ndarray) -> np.ndarray:
        if not hasattr(local, "request"):
            local.request = compiled.create_infer_request()
        return np.asarray(local.request.infer(np.ascontiguousarray(x, dtype=np.float32))[0])

    return infer


def _check_onnx_exportable(model: keras.Model) -> None:
    """Fail fast, before a tf2onnx export of several seconds,
    on layers whose constants that export makes inputs."""
    normalizing = [
        layer.name for layer in _all_layers(model) if isinstance(layer, keras.layers.Normalization)
    ]
    if normalizing:
        raise UnsupportedExport(
            f"the ONNX export of {model.name} would ask for the constants of "
            f"{', '.join(normalizing)} as inputs"
        )


def _all_layers(model: keras.Model):
    """Every layer of ``model``, those of nested models included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _openvino_config(threads: int) -> dict:
    return {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }


def _onnx_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    # idle threads sleep instead of spinning, leaving the cores to the
    # input pipeline between batches (measured on 2 cores, MobileNetV2
    # at 224 px beside tf.data: 97 img/s spinning, 155 img/s not)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _export(
    model: keras.Model, folder: Path, form: str, main_file: str, files: tuple[str, ...]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Keras exports only models that have been called
    model(np.zeros((1, *model.input_shape[1:]), np.float32))
    model.export(str(folder / main_file), format=form, verbose=False)
    manifest = {name: file_sha256(folder / name) for name in files}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _verify(folder: Path, files: tuple[str, ...]) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in files:
        if file_sha256(folder / name) != manifest[name]:
            raise ValueError(f"{name} does not match its recorded sha256")
