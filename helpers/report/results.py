"""Recorded results: each notebook's headline numbers as data,
merged into one report, and summaries written from them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from helpers.paths import atomic_write_bytes

#: the runs recorded in the repository: ``results/<profile>_profile.json``
RECORDED_RESULTS = Path(__file__).resolve().parents[2] / "results"
#: the key of a profile record holding, per notebook, the commit, date, machine and runtime of its
#: run
PROVENANCE = "provenance"


def machine_description(cpuinfo: str | None = None) -> str:
    """The cores this process may use, the CPU's model, its widest vector instructions and whether
    it computes bfloat16 natively: what a recorded speed depends on (``cpuinfo``: the text of
    /proc/cpuinfo, read here when None; other systems give the architecture)."""
    import platform

    from helpers.models.runtime import cpu_flags, cpu_info, default_threads

    model = cpu_info(cpuinfo).get("model name") or platform.processor() or platform.machine()
    flags = cpu_flags(cpuinfo)
    vectors = "AVX-512" if "avx512f" in flags else "AVX2 (no AVX-512)" if "avx2" in flags else None
    if vectors and {"avx512_bf16", "amx_bf16"} & flags:
        vectors += " with bf16"
    return ", ".join(part for part in (f"{default_threads()} CPU cores", model, vectors) if part)


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"refusing to record a non-finite value: {value}")
    if not isinstance(value, (int, float, str, bool)):
        raise TypeError(f"results must be numbers, strings or booleans, not {type(value).__name__}")
    return value


def result_key(name: str) -> str:
    """A display name as part of a results key: ``"LSE r=5"`` -> ``"lse_r_5"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def record_results(output_dir: str | Path, notebook: str, results: dict) -> Path:
    """Merge ``results`` (metric name -> value) into
    ``output_dir/results/<notebook>.json``; return the path."""
    path = Path(output_dir) / "results" / f"{notebook}.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored.update({str(name): _plain(value) for name, value in results.items()})
    atomic_write_bytes(path, (json.dumps(stored, indent=2, sort_keys=True) + "\n").encode())
    return path


class Recorder:
    """One notebook's record: ``record(name=value, ...)``
    stores headline numbers where they are computed.

    The first call of a run replaces what an older run
    of the same notebook left, so no stale key survives.
    """

    def __init__(self, output_dir: str | Path, notebook: str):
        self.path = Path(output_dir) / "results" / f"{notebook}.json"
        self.output_dir, self.notebook = Path(output_dir), notebook
        self.results: dict = {}

    def __call__(self, **metrics) -> pd.Series:
        """Record ``metrics`` (numbers, strings or
        booleans) and return them as a Series, for display."""
        plain = {name: _plain(value) for name, value in metrics.items()}
        self.results.update(plain)
        atomic_write_bytes(
            self.path, (json.dumps(self.results, indent=2, sort_keys=True) + "\n").encode()
        )
        return pd.Series(plain, name=self.notebook)

    def figure(self, fig, name: str):
        """Save ``fig`` as ``figures/<name>`` under the output
        folder (a small PNG) and return it, for display."""
        folder = self.output_dir / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(folder / name, dpi=80, bbox_inches="tight")
        return fig

    @property
    def models_dir(self) -> Path:
        """``models/`` under the output folder, created:
        where the notebooks save and find their models."""
        folder = self.output_dir / "models"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def model_path(self, name: str) -> Path:
        """Where to save (or find) the model ``name``: ``models/<name>``."""
        return self.models_dir / name

    def summary(self, *lines: str):
        """Markdown bullets, each ``line`` formatted with
        this run's recorded results (``{name:.3f}``)."""
        from IPython.display import Markdown

        return Markdown("\n".join(f"- {line.format(**self.results)}" for line in lines))


def notebook_seconds(results: dict) -> float | None:
    """How long a notebook ran: the runner's ``run_seconds`` (kernel start to last cell, the
    solutions included), else the notebook's own ``wall_seconds`` (up to its summary)."""
    return results.get("run_seconds", results.get("wall_seconds"))


def load_results(output_dir: str | Path) -> dict[str, dict]:
    """All recorded results under ``output_dir``: notebook -> {metric: value}."""
    folder = Path(output_dir) / "results"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def write_report(output_dir: str | Path, title: str = "Results") -> tuple[Path, Path]:
    """Write ``results.json`` (every notebook's results)
    and ``report.md`` (one table) into ``output_dir``."""
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


def recorded_time(notebook: str, profiles: tuple[str, ...] = ("workshop", "full")) -> str:
    """How long ``notebook`` took in the runs recorded in the repository, and where, in one line."""
    parts, machines = [], set()
    for profile in profiles:
        path = RECORDED_RESULTS / f"{profile}_profile.json"
        record = json.loads(path.read_text()) if path.exists() else {}
        seconds = notebook_seconds(record.get(notebook, {}))
        if seconds is not None:
            stamp = record.get(PROVENANCE, {}).get(notebook, {})
            commit = f" at `{stamp['commit'][:7]}`" if "commit" in stamp else ""
            parts.append(f"{seconds / 60:.0f} min in the {profile} profile{commit}")
            machines.add(stamp.get("machine", "2 CPU cores"))
    if not parts:
        return "no recorded run of this notebook yet"
    return (
        f"recorded on {'; '.join(sorted(machines))}: "
        + ", ".join(parts)
        + " (results/ in the repository); this run's own time is printed at the end"
    )
