"""Shared fixtures: an isolated cache per test session (with the one shared converted-weights cache) and one smoke run of the series."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.paths import CACHE_DIR_ENV, cache_root  # noqa: E402
from helpers.runner import run_series  # noqa: E402


def shared_weights() -> Path:
    """The user's converted-weights cache, converted once if missing: every test session starts from it."""
    from helpers.models.imagenet import _reference_classifier, checkpoint_path, converted_weights_path

    _reference_classifier()
    checkpoint_path()
    return converted_weights_path().parent


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory) -> Path:
    """Features, exports and outputs of this test session live in a temporary folder (inherited by kernels);
    its weights are a copy of the shared converted-weights cache, so no test converts them again."""
    weights = shared_weights()
    cache = tmp_path_factory.mktemp("cache")
    shutil.copytree(weights, cache / "weights", ignore=shutil.ignore_patterns("*.whl", "tmp-*", ".*"))
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
    """The whole series run once under the smoke profile, in order (04 explains 03's model): the executed notebooks."""
    return run_series("smoke", "all", tmp_path_factory.mktemp("smoke") / "outputs", progress=False)


@pytest.fixture(scope="session")
def smoke_results(smoke_series) -> dict:
    """Every notebook's recorded results of that run."""
    return json.loads((smoke_series / "results.json").read_text())
