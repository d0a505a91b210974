"""Shared fixtures: an isolated cache per test session (with the one shared converted-weights
cache), one smoke run of the series and one run of the image notebooks on a folder of shapes, side
by side."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.paths import CACHE_DIR_ENV, cache_root  # noqa: E402
from helpers.report.records import fresh_cache  # noqa: E402
from helpers.report.results import write_report  # noqa: E402
from helpers.runner import run_series  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory) -> Path:
    """Features, exports and outputs of this test session live in a temporary folder (inherited by
    kernels); its weights are a copy of the shared converted-weights cache, so no test converts them
    again."""
    cache = fresh_cache(tmp_path_factory.mktemp("cache"))
    previous = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(cache)
    assert cache_root() == cache
    yield cache
    if previous is None:
        os.environ.pop(CACHE_DIR_ENV, None)
    else:
        os.environ[CACHE_DIR_ENV] = previous


#: the smoke series in two chains: each keeps the order its notebooks need (04 explains 03's model);
#: 05-07 need nothing of 01-04 (07 featurizes itself when 01's cache is not there yet)
SMOKE_CHAINS = ("01,02,03,04", "05,06,07")
#: the four-class folder run of the image notebooks (test_own_data): small images, notebook 03's
#: plain path (what a GPU runs: fine-tuning on images, no cached maps), notebook 02's "what helps"
#: study on tiny data
SMALL_IMAGES = {"IMAGE_SIZE": 64, "TILE_SIZE": 64, "BATCH_SIZE": 16, "VALIDATION_FRACTION": 0.3}
FOUR_CLASS_OVERRIDES = {
    **SMALL_IMAGES,
    "CACHE_FROZEN_MAPS": False,
    "FINE_TUNE_FROM": "block_12_add",
    "TTA_VIEWS": 1,
    "STUDY_WHAT_HELPS": True,
    "VARIANTS": {
        "64 px, last layer": [[64, "last", 1]],
        "96 px, last layer, TTA x2": [[96, "last", 2]],
        "96 px, last + block_13": [[96, "last", 1], [96, "block_13_expand_relu", 1]],
    },
}


def shape_image(kind: str, rng, size: int = 64):
    """A grey or colour picture of one shape kind (disks,
    squares, crosses, stripes) at a random place and size."""
    import cv2
    import numpy as np

    image = np.full((size, size, 3), rng.integers(20, 60), np.uint8)
    centre, radius = rng.integers(20, 44, 2), int(rng.integers(8, 16))
    colour = tuple(int(c) for c in rng.integers(150, 255, 3))
    low, high = (tuple(int(c) for c in centre + d) for d in (-radius, radius))
    if kind == "disks":
        cv2.circle(image, tuple(int(c) for c in centre), radius, colour, -1)
    elif kind == "squares":
        cv2.rectangle(image, low, high, colour, -1)
    elif kind == "crosses":
        cv2.line(image, low, high, colour, 4)
        cv2.line(image, (low[0], high[1]), (high[0], low[1]), colour, 4)
    else:
        image[:: int(rng.integers(4, 8))] = colour
    return image


def make_shape_folder(
    root: Path, per_class: int, kinds=("crosses", "disks", "squares", "stripes")
) -> Path:
    """A folder of ``per_class`` shape pictures per class, one subfolder per kind."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(3)
    for kind in kinds:
        (root / kind).mkdir(parents=True)
        for n in range(per_class):
            cv2.imwrite(str(root / kind / f"{kind}_{n:02d}.png"), shape_image(kind, rng))
    return root


@pytest.fixture
def shape_folder():
    """A maker of image folders: ``shape_folder(root, per_class=...)`` -> root."""
    return make_shape_folder


@pytest.fixture
def small_images() -> dict:
    """Notebook parameters that keep a run on a user's folder small."""
    return dict(SMALL_IMAGES)


#: the fixtures that wait for a run of ``series_runs``
RUN_FIXTURES = {"smoke_series", "four_class_run"}


def pytest_collection_modifyitems(items):
    """The tests that read a notebook run go last, in their order: the others run meanwhile."""
    items.sort(key=lambda item: bool(RUN_FIXTURES & set(item.fixturenames)))


@pytest.fixture(scope="session", autouse=True)
def series_runs(request, tmp_path_factory) -> dict[str, Future]:
    """The notebook runs this session's tests need (the smoke chains, the four-class folder run),
    started at the session's start, one process each, while the other tests run beside them: the
    kernels' serial stretches leave a core free. Name -> future of the run's output folder."""
    needed = {name for item in request.session.items for name in item.fixturenames}
    root = tmp_path_factory.mktemp("series")
    jobs = {}  # name -> run_series arguments (every run is of the smoke profile)
    if "smoke_series" in needed:
        jobs.update(
            {chain: {"selection": chain, "output_dir": root / "smoke"} for chain in SMOKE_CHAINS}
        )
    if "four_class_run" in needed:
        folder = make_shape_folder(root / "shapes", per_class=16)
        jobs["four classes"] = {
            "selection": "01,02,03,04,06",
            "output_dir": root / "four-classes",
            "overrides": FOUR_CLASS_OVERRIDES,
            "dataset": f"folder:{folder}",
        }
    if not jobs:
        yield {}
        return
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that loaded TensorFlow
    with ProcessPoolExecutor(len(jobs), mp_context=spawn) as pool:
        # the runs' own cache, inherited as each process starts: the tests that damage cache
        # files beside them never touch a file a kernel reads
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(CACHE_DIR_ENV, str(fresh_cache(root / "cache")))
            futures = {
                name: pool.submit(run_series, "smoke", progress=False, **arguments)
                for name, arguments in jobs.items()
            }
        yield futures


@pytest.fixture(scope="session")
def smoke_series(series_runs) -> Path:
    """The whole series run once under the smoke profile: the folder of executed notebooks."""
    *_, output_dir = [series_runs[chain].result() for chain in SMOKE_CHAINS]  # one folder
    write_report(output_dir, title="Results (smoke profile)")
    return output_dir


@pytest.fixture(scope="session")
def smoke_results(smoke_series) -> dict:
    """Every notebook's recorded results of that run."""
    return json.loads((smoke_series / "results.json").read_text())


@pytest.fixture(scope="session")
def four_class_run(series_runs) -> Path:
    """The image notebooks (01-04, 06) run on a four-class folder of shapes with
    ``FOUR_CLASS_OVERRIDES``: the folder of executed notebooks."""
    return series_runs["four classes"].result()


def make_shortcut_maps(n: int = 240, grid: int = 4, channels: int = 8, seed: int = 0):
    """Feature maps where channel 0 at cell (0, 0) is a perfect
    shortcut and channel 1 (anywhere) a noisy real signal."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    maps = rng.uniform(0, 0.1, (n, grid, grid, channels)).astype(np.float32)
    maps[labels == 1, 0, 0, 0] += 6.0
    real = np.where(rng.uniform(size=n) < 0.85, labels, 1 - labels)
    cells = rng.integers(1, grid, (n, 2))  # the real signal is never under the shortcut
    maps[np.arange(n), cells[:, 0], cells[:, 1], 1] += 3.0 * real
    return maps, labels


@pytest.fixture
def shortcut_maps():
    """A maker of feature maps with a planted shortcut:
    ``shortcut_maps(n=..., seed=...)`` -> (maps, labels)."""
    return make_shortcut_maps


#: The ways a cached or fetched file gets damaged that every healing cache must survive.
DAMAGES = ("truncated", "empty", "bit flip")


def damage(payload: bytes, kind: str, at: int | None = None) -> bytes:
    """``payload`` damaged one way (one of ``DAMAGES``).

    ``truncated`` keeps the bytes before ``at``, ``empty`` keeps none, ``bit flip`` inverts the byte
    at ``at`` (XOR 0xFF). ``at`` defaults to the middle of the payload: inside the data, past any
    header, so only a checksum or a full read can tell.
    """
    at = len(payload) // 2 if at is None else at
    if kind == "truncated":
        return payload[:at]
    if kind == "empty":
        return b""
    if kind == "bit flip":
        return payload[:at] + bytes([payload[at] ^ 0xFF]) + payload[at + 1 :]
    raise ValueError(f"unknown damage {kind!r}: choose one of {DAMAGES}")


class Damage:
    """One kind of damage: ``damaged(payload, at=None)`` returns the damaged bytes (see
    ``damage``); ``damaged.kind`` names it."""

    def __init__(self, kind: str):
        self.kind = kind

    def __call__(self, payload: bytes, at: int | None = None) -> bytes:
        damaged = damage(payload, self.kind, at)
        assert damaged != payload, f"{self.kind} left the payload as it was"
        return damaged

    def __repr__(self) -> str:
        return f"Damage({self.kind!r})"


@pytest.fixture(params=DAMAGES)
def damaged(request) -> Damage:
    """Runs the test once per kind of damage in ``DAMAGES`` (ids: the kind's name): a ``Damage``,
    ``damaged(payload)`` -> the payload damaged that way. One kind only:
    ``@pytest.mark.parametrize("damaged", ["truncated"], indirect=True)``."""
    return Damage(request.param)


@pytest.fixture(scope="session", autouse=True)
def no_openvino_telemetry():
    """OpenVINO's model conversion sends usage events to Google Analytics (a forked process each,
    some 18 a conversion, and files under ~/intel) unless the user opted out: the tests must not
    touch the network, so they decline it in this process (exports also run about 1.5x faster)."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no OpenVINO here: nothing to decline
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OptInChecker, "check", lambda *args, **kwargs: ConsentCheckResult.DECLINED)
        yield
