"""Recorded profile runs in ``results/``: made by one command, naming the commit, machine and
runtime of each notebook.

``python -m helpers.report.records --profile workshop [--notebooks 01,02]`` (``make record``) runs
the chosen notebooks of a profile from an empty cache on a committed working tree and merges their
results into ``results/<profile>_profile.json`` (the other notebooks keep theirs); ``make record``
then rewrites the README's tables.
``--check`` lists the notebooks whose record is older than their code.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers.paths import CACHE_DIR_ENV, atomic_write_bytes
from helpers.report.results import PROVENANCE, RECORDED_RESULTS, load_results, machine_description
from helpers.runner import notebook_paths, run_series

REPO_ROOT = RECORDED_RESULTS.parent
#: what a notebook's numbers depend on besides the notebook itself (its profile lives in the runner)
SHARED_CODE = ("helpers", "pyproject.toml", "requirements.txt")


def git(*args: str) -> str:
    """The output of a git command run in the repository, stripped."""
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def record_path(profile: str) -> Path:
    return RECORDED_RESULTS / f"{profile}_profile.json"


def load_profile_record(profile: str) -> dict:
    """``results/<profile>_profile.json``: notebook -> results, and the provenance of each; empty if
    never made."""
    path = record_path(profile)
    return json.loads(path.read_text()) if path.exists() else {}


def notebook_results(record: dict) -> dict[str, dict]:
    """A record's results alone: notebook number -> its recorded numbers."""
    return {key: value for key, value in record.items() if key != PROVENANCE}


def merge_run(record: dict, run_results: dict[str, dict], provenance: dict) -> dict:
    """``record`` with the notebooks of one run replaced by its results, each stamped with
    ``provenance``."""
    merged = {key: value for key, value in record.items() if key not in run_results}
    stamps = dict(record.get(PROVENANCE, {}))
    for notebook, results in run_results.items():
        merged[notebook] = results
        stamps[notebook] = dict(provenance)
    merged[PROVENANCE] = dict(sorted(stamps.items()))
    return dict(sorted(merged.items(), key=lambda item: (item[0] == PROVENANCE, item[0])))


def write_profile_record(profile: str, record: dict) -> Path:
    path = record_path(profile)
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return path


def stale_notebooks(record: dict, head: str = "HEAD") -> dict[str, str]:
    """Notebook -> why its record is older than its code (the notebook, the runner's profiles or the
    shared code changed after the commit it names, or it names none)."""
    stale = {}
    for notebook, stamp in record.get(PROVENANCE, {}).items():
        commit = stamp.get("commit")
        if not commit:
            stale[notebook] = "names no commit"
            continue
        sources = [
            str(p.relative_to(REPO_ROOT))
            for p in (REPO_ROOT / "notebooks").glob(f"{notebook}_*.ipynb")
        ]
        changed = git(
            "diff", "--name-only", commit, head, "--", *sources, *SHARED_CODE
        ).splitlines()
        if changed:
            stale[notebook] = (
                f"{len(changed)} file(s) changed since {commit[:7]}, e.g. {changed[0]}"
            )
    for notebook in notebook_results(record):
        if notebook not in record.get(PROVENANCE, {}):
            stale[notebook] = "no provenance"
    return dict(sorted(stale.items()))


def current_provenance() -> dict:
    """What a run made now depends on: the commit, the date, the machine and the frozen runtime."""
    from helpers.models.runtime import resolve_runtime

    return {
        "commit": git("rev-parse", "HEAD"),
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "runtime": resolve_runtime(os.environ.get("TL_RUNTIME", "auto")),
    }


def check_committed() -> None:
    """Stop, in one sentence, when the code a record depends on has uncommitted changes."""
    changed = git("status", "--porcelain", "--", "notebooks", *SHARED_CODE)
    if changed:
        raise SystemExit(
            "uncommitted changes in "
            + ", ".join(line[3:] for line in changed.splitlines()[:5])
            + ": commit them first, so the record can name the commit its code came from"
        )


def fresh_cache(cache: Path | None = None) -> Path:
    """An empty cache folder (a new temporary one by default) holding only the converted ImageNet
    weights, copied from the user's cache (converted there first if missing), so a run converts
    nothing again."""
    from helpers.models.imagenet import (
        _reference_classifier,
        checkpoint_path,
        converted_weights_path,
    )

    _reference_classifier()
    checkpoint_path()
    cache = Path(tempfile.mkdtemp(prefix="tl-record-cache-")) if cache is None else cache
    ignore = shutil.ignore_patterns("*.whl", "tmp-*", ".*")
    shutil.copytree(converted_weights_path().parent, cache / "weights", ignore=ignore)
    return cache


def make_record(profile: str, notebooks: str = "all") -> Path:
    """Run ``notebooks`` of ``profile`` from an empty cache and merge them into the profile's
    record."""
    check_committed()
    provenance = current_provenance()
    cache = fresh_cache()
    previous = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(cache)
    try:
        output_dir = run_series(profile, notebooks, REPO_ROOT / "outputs" / profile)
    finally:
        os.environ.pop(CACHE_DIR_ENV)
        if previous is not None:
            os.environ[CACHE_DIR_ENV] = previous
        shutil.rmtree(cache, ignore_errors=True)
    chosen = {path.name[:2] for path in notebook_paths(notebooks)}
    results = {nb: values for nb, values in load_results(output_dir).items() if nb in chosen}
    return write_profile_record(
        profile, merge_run(load_profile_record(profile), results, provenance)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="workshop")
    parser.add_argument("--notebooks", default="all", help="'all' or numbers, e.g. 03,04")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only list the notebooks whose record is older than their code",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_notebooks(load_profile_record(args.profile))
        for notebook, why in stale.items():
            print(f"{args.profile} {notebook}: {why}")
        return 1 if stale else 0
    print(f"record: {make_record(args.profile, args.notebooks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
