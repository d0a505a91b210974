"""The course site of the smoke run, built once per session for the home-page and browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.report.site import build_site


@pytest.fixture(scope="session")
def smoke_site(smoke_series, tmp_path_factory) -> Path:
    """The folder holding index.html of the smoke run's site."""
    return build_site("smoke", smoke_series, tmp_path_factory.mktemp("site") / "smoke")
