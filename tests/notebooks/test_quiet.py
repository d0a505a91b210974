"""The executed notebooks of the smoke run read clean: no
TensorFlow start-up logs, CUDA probes or library warnings."""

from __future__ import annotations

import re

import nbformat
import pytest

NOISE = re.compile(
    r"^[IWE]\d{4} "
    r"|cuda|absl::|DeprecationWarning|FutureWarning|WARNING:tensorflow|retracing|oneDNN "
    r"custom operations",
    re.M,
)


@pytest.mark.notebook
def test_no_start_up_logs_or_library_warnings_in_the_executed_notebooks(smoke_series):
    for path in sorted(smoke_series.glob("[0-9][0-9]_*.ipynb")):
        streams = [
            "".join(output.get("text", ""))
            for cell in nbformat.read(path, as_version=4).cells
            for output in cell.get("outputs", [])
            if output.get("output_type") == "stream"
        ]
        noise = [line for text in streams for line in text.splitlines() if NOISE.search(line)]
        assert not noise, f"{path.name}: {noise[:3]}"
    logs = sorted((smoke_series / "logs").glob("*.log"))
    assert logs, "what the kernels printed outside the cells is kept in logs/"
