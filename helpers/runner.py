"""Execute the notebook series with papermill: ``python -m helpers.runner --profile smoke``.

A profile is a set of papermill parameters per notebook. ``full`` runs every
notebook on its defaults (the whole offline data sets); ``smoke`` shrinks the
work so the whole series runs in minutes on two CPU cores. Executed copies go
to ``outputs/<profile>/``, next to ``results.json`` and ``report.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import papermill

from helpers.results import write_report

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

#: notebook number -> papermill parameters; notebooks not named run on their defaults.
PROFILES: dict[str, dict[str, dict]] = {
    "full": {},
    "smoke": {
        "01": {"IMAGE_SIZE": 96, "MAX_TRAIN": 240, "MAX_TEST": 120, "RUN_TSNE": False},
        "02": {"IMAGE_SIZE": 96, "MAX_TRAIN": 240, "MAX_TEST": 120, "SEARCH_ITERATIONS": 2, "CV_FOLDS": 3, "STUDY_WHAT_HELPS": False},
        "03": {"IMAGE_SIZE": 128, "MAX_TRAIN": 320, "MAX_TEST": 160, "VIEWS": 2, "FINE_TUNE_EPOCHS": 3, "PATIENCE": 3, "PROGRESS": False},
        "04": {"IMAGE_SIZE": 96, "MAX_TRAIN": 240, "MAX_TEST": 120, "HEAD_EPOCHS": 30, "TILE_SIZE": 96, "N_TRAIN_MOSAICS": 1000, "N_TEST_MOSAICS": 160, "FINE_TUNE_EPOCHS": 3, "RANDOM_DRAWS": 20},
        "05": {"DATASET": "basic_motions", "SEEDS": 1, "EPOCHS": {"basic_motions": 40}, "SYNTHETIC_SAMPLES": 250, "TELEMETRY_EPOCHS": 25},
        "06": {"IMAGE_SIZE": 160, "MAX_TRAIN": 600, "MAX_TEST": 200, "EPOCHS": 20},
    },
}


def notebook_paths(selection: str = "all", notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The series' notebooks in order; ``selection`` is ``all`` or numbers like ``01,03``."""
    paths = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if selection == "all":
        return paths
    wanted = {part.strip().zfill(2) for part in selection.split(",") if part.strip()}
    chosen = [p for p in paths if p.name[:2] in wanted]
    missing = wanted - {p.name[:2] for p in chosen}
    if missing:
        raise SystemExit(f"no notebook numbered {', '.join(sorted(missing))} in {notebooks_dir}")
    return chosen


def run_series(
    profile: str,
    selection: str = "all",
    output_dir: Path | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    overrides: dict | None = None,
) -> Path:
    """Run the chosen notebooks of a profile in order; stop at the first failure (``PapermillExecutionError``).

    ``overrides`` are extra parameters given to every chosen notebook.
    """
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}: choose one of {sorted(PROFILES)}")
    output_dir = (output_dir or REPO_ROOT / "outputs" / profile).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        for path in notebook_paths(selection, notebooks_dir):
            parameters = {**PROFILES[profile].get(path.name[:2], {}), **(overrides or {}), "OUTPUT_DIR": str(output_dir)}
            (output_dir / "results" / f"{path.name[:2]}.json").unlink(missing_ok=True)  # no keys left from an older run
            start = time.perf_counter()
            print(f"running {path.name} ({profile}) ...", flush=True)
            papermill.execute_notebook(
                str(path), str(output_dir / path.name), parameters=parameters, cwd=str(notebooks_dir),
                kernel_name="python3", progress_bar=False,
            )
            print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        write_report(output_dir, title=f"Results ({profile} profile)")
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=sorted(PROFILES))
    parser.add_argument("--notebooks", default="all", help="'all' or numbers, e.g. 01,02")
    parser.add_argument("--output-dir", type=Path, default=None, help="default: outputs/<profile>")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR)
    args = parser.parse_args(argv)
    try:
        output_dir = run_series(args.profile, args.notebooks, args.output_dir, args.notebooks_dir.resolve())
    except papermill.PapermillExecutionError as error:
        print(f"\nFAILED in cell {error.exec_count}: {error.ename}: {error.evalue}", file=sys.stderr)
        print("".join(error.traceback[-3:]) if error.traceback else "", file=sys.stderr)
        print("The executed notebook (with the error) is in the output folder.", file=sys.stderr)
        return 1
    print(f"results: {output_dir / 'results.json'}\nreport:  {output_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
