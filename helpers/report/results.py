"""Recorded results: each notebook's headline numbers as data, merged into one report, and summaries written from them."""

from __future__ import annotations

import json
import math
from pathlib import Path

from helpers.paths import atomic_write_bytes


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"refusing to record a non-finite value: {value}")
    if not isinstance(value, (int, float, str, bool)):
        raise TypeError(f"results must be numbers, strings or booleans, not {type(value).__name__}")
    return value


def record_results(output_dir: str | Path, notebook: str, results: dict) -> Path:
    """Merge ``results`` (metric name -> value) into ``output_dir/results/<notebook>.json``; return the path."""
    path = Path(output_dir) / "results" / f"{notebook}.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored.update({str(name): _plain(value) for name, value in results.items()})
    atomic_write_bytes(path, (json.dumps(stored, indent=2, sort_keys=True) + "\n").encode())
    return path


class Recorder:
    """One notebook's record: ``record(name=value, ...)`` stores headline numbers where they are computed.

    The first call of a run replaces what an older run of the same notebook left, so no stale key survives.
    """

    def __init__(self, output_dir: str | Path, notebook: str):
        self.path = Path(output_dir) / "results" / f"{notebook}.json"
        self.output_dir, self.notebook = Path(output_dir), notebook
        self.results: dict = {}

    def __call__(self, **metrics) -> dict:
        """Record ``metrics`` (numbers, strings or booleans) and return them, for display."""
        plain = {name: _plain(value) for name, value in metrics.items()}
        self.results.update(plain)
        atomic_write_bytes(self.path, (json.dumps(self.results, indent=2, sort_keys=True) + "\n").encode())
        return metrics

    def summary(self, *lines: str):
        """Markdown bullets, each ``line`` formatted with this run's recorded results (``{name:.3f}``)."""
        from IPython.display import Markdown

        return Markdown("\n".join(f"- {line.format(**self.results)}" for line in lines))


def load_results(output_dir: str | Path) -> dict[str, dict]:
    """All recorded results under ``output_dir``: notebook -> {metric: value}."""
    folder = Path(output_dir) / "results"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def write_report(output_dir: str | Path, title: str = "Results") -> tuple[Path, Path]:
    """Write ``results.json`` (every notebook's results) and ``report.md`` (one table) into ``output_dir``."""
    output_dir = Path(output_dir)
    results = load_results(output_dir)
    json_path, report_path = output_dir / "results.json", output_dir / "report.md"
    atomic_write_bytes(json_path, (json.dumps(results, indent=2, sort_keys=True) + "\n").encode())
    lines = [f"# {title}", "", "| notebook | metric | value |", "| --- | --- | --- |"]
    for notebook, metrics in results.items():
        for name, value in metrics.items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"| {notebook} | {name} | {shown} |")
    atomic_write_bytes(report_path, ("\n".join(lines) + "\n").encode())
    return json_path, report_path
