"""Shared fixtures: an isolated cache per test session (with the one shared converted-weights cache) and a notebook runner."""

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


@pytest.fixture
def run_notebook(tmp_path):
    """Execute one notebook under the smoke profile into ``tmp_path``; return its recorded results."""

    def run(number: str, **parameters) -> dict:
        output_dir = run_series("smoke", number, tmp_path / "outputs", overrides=parameters, progress=False)
        return json.loads((output_dir / "results" / f"{number}.json").read_text())

    return run
