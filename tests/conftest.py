"""Shared fixtures: an isolated cache per test session (with the one shared converted-weights cache)
and one smoke run of the series."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.paths import CACHE_DIR_ENV, cache_root  # noqa: E402
from helpers.report.records import fresh_cache  # noqa: E402
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


@pytest.fixture(scope="session")
def smoke_series(tmp_path_factory) -> Path:
    """The whole series run once under the smoke profile, in
    order (04 explains 03's model): the executed notebooks."""
    return run_series("smoke", "all", tmp_path_factory.mktemp("smoke") / "outputs", progress=False)


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
