"""The course site: the executed notebooks of a profile
as static HTML, with Sphinx and myst-nb (``make site``).

Sphinx + myst-nb because it builds offline from pure-Python packages, renders executed notebooks
without running them again, and collapses cells by tag (``hide-input``, which the solution cells get
here).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from helpers.report.readme import HEADLINES
from helpers.report.results import RECORDED_RESULTS, notebook_seconds
from helpers.runner import REPO_ROOT, notebook_paths

DOCS = REPO_ROOT / "docs"
#: the pages of docs/ the site renders beside the notebooks, in the order of its menu
DOC_PAGES = ("own-data", "gpu", "cluster", "profiles", "performance", "data", "development")
LICENSES = [
    "ELPV (notebooks 01-04, 06, 07): CC BY-NC-SA 4.0, Buerhop-Lutz et al. 2018, "
    "Deitsch et al. 2019.",
    "BasicMotions, JapaneseVowels and the other aeon sets (notebook 05): "
    "UEA/UCR time-series archive, bundled with aeon (BSD-3).",
    "MobileNetV2 ImageNet weights: torchvision (BSD-3-Clause). The code of this series: MIT.",
]


def notebook_summary(path: Path) -> tuple[str, str]:
    """A source notebook's title and its first 'What you
    will learn' item, whole (its wrapped lines joined)."""
    lines = nbformat.read(path, as_version=4).cells[0].source.splitlines()
    title = lines[0].lstrip("# ").strip()
    start = next((k for k, line in enumerate(lines) if line.startswith("- ")), len(lines))
    item = lines[start : start + 1] + list(
        itertools.takewhile(lambda line: line.startswith("  "), lines[start + 1 :])
    )
    return title, " ".join(line.strip() for line in item).removeprefix("- ").rstrip(";")


def home_page(profile: str, run_dir: Path) -> str:
    """The home page: what the series teaches, each notebook
    with what you learn and its measured time, the results."""
    results = (
        json.loads((run_dir / "results.json").read_text())
        if (run_dir / "results.json").exists()
        else {}
    )
    lines = [
        f"# Transfer learning as a powerful baseline ({profile} profile)",
        "",
        "A numbered series of notebooks: a frozen ImageNet CNN as a featurizer for a "
        "gradient-boosted model, fine-tuning "
        "with a global-average-pooling head, class activation maps that explain and localize, "
        "sensor series as 1-D images, "
        "CAM-guided cleaning of training data, and the same baseline on a Dask cluster. "
        "Every page below is the executed "
        f"notebook of one `{profile}` run; every number on it was measured in that run.",
        "",
        "| notebook | what you learn | minutes (this run, CPU) |",
        "| --- | --- | --- |",
    ]
    missing = []
    for source in notebook_paths():
        title, learn = notebook_summary(source)
        seconds = notebook_seconds(results.get(source.name[:2], {}))
        if (run_dir / source.name).exists():
            lines.append(
                f"| [{title}]({source.stem}.ipynb) | {learn} | {seconds / 60:.1f} |"
                if seconds
                else f"| [{title}]({source.stem}.ipynb) | {learn} | - |"
            )
        else:
            missing.append(source.name)
            lines.append(f"| {title} (not run yet) | {learn} | - |")
    if missing:
        lines += [
            "",
            f"**Not run yet in this profile:** {', '.join(missing)} "
            f"(`make run PROFILE={profile}` runs them).",
        ]
    lines += ["", "## Results of this run", "", "| what | measured |", "| --- | --- |"]
    lines += [
        f"| {label} | {results[nb][key]:.3f} |"
        for nb, key, label in HEADLINES
        if key in results.get(nb, {})
    ]
    lines += ["", "## More", ""]
    lines += [f"- [{doc_title(DOCS / f'{name}.md')}](docs/{name}.md)" for name in DOC_PAGES]
    lines += [
        "",
        "## Licenses",
        "",
        *[f"- {text}" for text in LICENSES],
        "",
        "```{toctree}",
        ":hidden:",
        ":maxdepth: 1",
        "",
    ]
    lines += [p.stem for p in sorted(run_dir.glob("[0-9][0-9]_*.ipynb"))]
    lines += [f"docs/{name}" for name in DOC_PAGES] + ["```", ""]
    return "\n".join(lines)


def doc_title(path: Path) -> str:
    """The first heading of a markdown page."""
    return path.read_text().splitlines()[0].lstrip("# ").strip()


def copy_doc_pages(target: Path) -> None:
    """docs/*.md as site pages, with their figures and the records in results/ they link to."""
    target.mkdir(parents=True, exist_ok=True)
    for name in DOC_PAGES:
        text = (DOCS / f"{name}.md").read_text()
        # a link to ../results/x.json points at the copy beside the page on the site
        (target / f"{name}.md").write_text(re.sub(r"\]\(\.\./results/", "](results/", text))
    (target / "results").mkdir(exist_ok=True)
    for record in RECORDED_RESULTS.glob("*.json"):
        shutil.copy(record, target / "results" / record.name)
    if (DOCS / "figures").exists():
        shutil.copytree(DOCS / "figures", target / "figures", dirs_exist_ok=True)


def prepare_notebook(source: Path, target: Path) -> None:
    """Copy an executed notebook, collapsing its solution
    cells (tag ``hide-input``) and dropping papermill's tags."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "solution" in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
    nbformat.write(notebook, target)


def build_site(
    profile: str = "full", outputs: Path | None = None, site: Path | None = None
) -> Path:
    """Build the site of ``outputs/<profile>`` into
    ``outputs/site/<profile>``; return the folder holding index.html."""
    run_dir = Path(outputs) if outputs else REPO_ROOT / "outputs" / profile
    if not run_dir.exists():
        raise SystemExit(
            f"no executed notebooks in {run_dir}: run `make run PROFILE={profile}` first"
        )
    site = Path(site) if site else REPO_ROOT / "outputs" / "site" / profile
    source = site.parent / f".{site.name}-source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for name in ("conf.py", "favicon.png"):
        shutil.copy(DOCS / name, source / name)
    for notebook in sorted(run_dir.glob("[0-9][0-9]_*.ipynb")):
        prepare_notebook(notebook, source / notebook.name)
    copy_doc_pages(source / "docs")
    (source / "index.md").write_text(home_page(profile, run_dir))
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-W",
        "--keep-going",
        str(source),
        str(site),
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"the site did not build:\n{completed.stderr.strip()}")
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--outputs", type=Path, default=None, help="default: outputs/<profile>")
    args = parser.parse_args(argv)
    site = build_site(args.profile, args.outputs)
    print(f"site: {site / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
