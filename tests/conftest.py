"""Shared fixtures: an isolated cache per test session (with the one shared converted-weights cache)
and one smoke run of the series."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
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


#: the smoke series in two chains run side by side: each keeps the order its notebooks need (04
#: explains 03's model); 05-07 need nothing of 01-04 (07 featurizes itself when 01's cache is not
#: there yet). Two kernels at once keep both cores busy through each one's serial stretches.
SMOKE_CHAINS = ("01,02,03,04", "05,06,07")


@pytest.fixture(scope="session")
def smoke_series(tmp_path_factory) -> Path:
    """The whole series run once under the smoke profile: the folder of executed notebooks."""
    output_dir = tmp_path_factory.mktemp("smoke") / "outputs"
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that loaded TensorFlow
    with ProcessPoolExecutor(len(SMOKE_CHAINS), mp_context=spawn) as pool:
        chains = [
            pool.submit(run_series, "smoke", chain, output_dir, progress=False)
            for chain in SMOKE_CHAINS
        ]
        for chain in chains:
            chain.result()
    write_report(output_dir, title="Results (smoke profile)")
    return output_dir


@pytest.fixture(scope="session")
def smoke_results(smoke_series) -> dict:
    """Every notebook's recorded results of that run."""
    return json.loads((smoke_series / "results.json").read_text())


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
