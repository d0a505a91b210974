"""Shared fixtures: an isolated cache per test session and a papermill notebook runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.runner import run_series

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory) -> Path:
    """Weights and feature caches of this test session live in a temporary folder (inherited by kernels)."""
    cache = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("TL_CACHE_DIR")
    os.environ["TL_CACHE_DIR"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("TL_CACHE_DIR", None)
    else:
        os.environ["TL_CACHE_DIR"] = previous


@pytest.fixture
def run_notebook(tmp_path):
    """Execute one notebook under the smoke profile into ``tmp_path``; return its recorded results."""

    def run(number: str, **parameters) -> dict:
        output_dir = run_series("smoke", number, tmp_path / "outputs", overrides=parameters)
        return json.loads((output_dir / "results" / f"{number}.json").read_text())

    return run
