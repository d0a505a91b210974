"""Execute the notebook series with papermill: ``python -m helpers.runner --profile smoke``.

A profile is a set of papermill parameters per notebook: ``full`` runs every notebook on its
defaults (the whole offline data sets), ``workshop`` fits each notebook in a workshop slot on a
laptop CPU, ``smoke`` shrinks the work so the whole series runs in minutes (what the tests use).
Executed copies go to ``outputs/<profile>/`` next to ``results.json``, ``report.md`` and ``logs/``
(each kernel's own log).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import re
import sys
import time
from pathlib import Path

import papermill

from helpers.report.results import record_results, write_report

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: notebooks that take an image data set as DATASET; notebook 05 takes a series set
IMAGE_NOTEBOOKS = ("01", "02", "03", "04", "06", "07")
SERIES_NOTEBOOK = "05"
#: what the kernels run with: no TensorFlow C++ logs, no library deprecation warnings in the
#: executed notebooks (progress bars too: an executed notebook would keep a frozen 0 % bar; the
#: runner reports progress itself)
KERNEL_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning",
    "TQDM_DISABLE": "1",
}

#: profile -> notebook number -> papermill parameters; notebooks not named run on their defaults.
PROFILES: dict[str, dict[str, dict]] = {
    "full": {},
    "workshop": {
        "02": {
            "CV_FOLDS": 3,
            "SEARCH_ITERATIONS": 4,
            "VARIANTS": {
                "224 px, last layer (notebook 01)": [[224, "last", 1]],
                "224 px, last layer, TTA x4": [[224, "last", 4]],
            },
        },
        "03": {
            "IMAGE_SIZE": 160,
            "FINE_TUNE_FROM": "block_12_add",
            "VIEWS": 4,
            "TTA_VIEWS": 2,
            "FINE_TUNE_EPOCHS": 18,
            "PATIENCE": 5,
            "REDUCE_LR_PATIENCE": 2,
            "EXERCISE_EPOCHS": 1,
            "EXERCISE_IMAGES": 600,
        },
        # the seed's GAP against one log-sum-exp head, 3 seeds each, in under 10 minutes on 2 cores
        "04": {
            "N_TRAIN_MOSAICS": 2000,
            "N_VALIDATION_MOSAICS": 400,
            "N_TEST_MOSAICS": 400,
            "POOLINGS": ["GAP", "LSE"],
            "LSE_R": [5.0],
            "FINE_TUNE_EPOCHS": 5,
        },
        "05": {
            "SEEDS": 2,
            "EPOCHS": 60,
            "EPOCHS_BY_DATASET": {"basic_motions": 100, "uci_har": 30},
        },
        # one head per model, as the workshop run was timed; the full profile averages 3
        "06": {"SEEDS": 1},
        "07": {"LARGE_VIEWS": 4},
    },
    "smoke": {
        "01": {"IMAGE_SIZE": 96, "MAX_TRAIN": 240, "MAX_TEST": 120, "RUN_TSNE": False},
        "02": {
            "IMAGE_SIZE": 96,
            "MAX_TRAIN": 240,
            "MAX_TEST": 120,
            "SEARCH_ITERATIONS": 2,
            "CV_FOLDS": 3,
            "STUDY_WHAT_HELPS": False,
        },
        "03": {
            "IMAGE_SIZE": 128,
            "MAX_TRAIN": 320,
            "MAX_TEST": 160,
            "VIEWS": 2,
            "TTA_VIEWS": 2,
            "FINE_TUNE_EPOCHS": 3,
            "PATIENCE": 3,
            "EXERCISE_EPOCHS": 1,
            "EXERCISE_IMAGES": 120,
        },
        "04": {
            "IMAGE_SIZE": 96,
            "MAX_TRAIN": 240,
            "MAX_TEST": 120,
            "TILE_SIZE": 96,
            "N_TRAIN_MOSAICS": 600,
            "N_VALIDATION_MOSAICS": 160,
            "N_TEST_MOSAICS": 160,
            "LSE_R": [5.0],
            "SEEDS": 1,
            "FINE_TUNE_EPOCHS": 1,
        },
        "05": {
            # two aeon sets besides BasicMotions: univariate, 24 steps; univariate of unequal length
            "DATASET": "basic_motions,ItalyPowerDemand,PickupGestureWiimoteZ",
            "SEEDS": 1,
            "EPOCHS": 40,
            "EPOCHS_BY_DATASET": {},
            "MINIROCKET_KERNELS": 2000,
            "SYNTHETIC_SAMPLES": 250,
            "TELEMETRY_EPOCHS": 25,
        },
        "06": {"IMAGE_SIZE": 160, "MAX_TRAIN": 600, "MAX_TEST": 200, "EPOCHS": 20, "SEEDS": 2},
        "07": {
            "IMAGE_SIZE": 96,
            "MAX_TRAIN": 240,
            "MAX_TEST": 120,
            "PARTITION_SIZE": 64,
            "LARGE_VIEWS": 2,
            "SCALING_IMAGES": 128,
            "LGBM_TREES": 50,
        },
    },
}


class RunFailed(RuntimeError):
    """A notebook of the series failed; the message is one
    line: which notebook, what went wrong, where to look."""


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


def default_output_dir(profile: str, dataset: str | None = None) -> Path:
    """``outputs/<profile>``, or ``outputs/<data set>-<profile>`` for a run on another data set."""
    if not dataset:
        return REPO_ROOT / "outputs" / profile
    slug = (
        re.sub(
            r"[^A-Za-z0-9]+", "-", dataset.removeprefix("folder:").rstrip("/").split("/")[-1]
        ).strip("-")
        or "data"
    )
    return REPO_ROOT / "outputs" / f"{slug}-{profile}"


@contextlib.contextmanager
def _kernel_output_to(log: Path):
    """Send what kernels and their subprocesses print outside
    the cells (start-up logs, Dask workers) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(log, "ab") as handle:
        for fd in saved:
            os.dup2(handle.fileno(), fd)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def run_series(
    profile: str,
    selection: str = "all",
    output_dir: Path | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    overrides: dict | None = None,
    *,
    dataset: str | None = None,
    series: str | None = None,
    progress: bool = True,
) -> Path:
    """Run the chosen notebooks of a profile in order; stop at the first failure (``RunFailed``).

    ``overrides`` are extra parameters for every chosen notebook; ``dataset`` is the image
    notebooks' DATASET, ``series`` notebook 05's.
    """
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}: choose one of {sorted(PROFILES)}")
    output_dir = (output_dir or default_output_dir(profile, dataset or series)).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: v for k, v in KERNEL_ENVIRONMENT.items() if k not in os.environ})
    try:
        for path in notebook_paths(selection, notebooks_dir):
            number = path.name[:2]
            parameters = {
                **PROFILES[profile].get(number, {}),
                **(overrides or {}),
                "OUTPUT_DIR": str(output_dir),
            }
            if dataset and number in IMAGE_NOTEBOOKS:
                parameters["DATASET"] = dataset
            if series and number == SERIES_NOTEBOOK:
                parameters["DATASET"] = series
            # no keys left from an older run
            (output_dir / "results" / f"{number}.json").unlink(missing_ok=True)
            seconds = _run_one(path, output_dir, parameters, notebooks_dir, progress)
            record_results(output_dir, number, {"run_seconds": seconds})
    finally:
        write_report(output_dir, title=f"Results ({profile} profile)")
    return output_dir


def _run_one(
    path: Path, output_dir: Path, parameters: dict, notebooks_dir: Path, progress: bool
) -> float:
    """Execute one notebook; the seconds it took, kernel start to last cell."""
    target, log = output_dir / path.name, output_dir / "logs" / f"{path.stem}.log"
    start = time.perf_counter()
    if progress:
        print(f"running {path.name} ...", end=" ", flush=True)
    try:
        with _kernel_output_to(log):
            papermill.execute_notebook(
                str(path),
                str(target),
                parameters=parameters,
                cwd=str(notebooks_dir),
                kernel_name="python3",
                progress_bar=False,
                extra_arguments=["--IPKernelApp.capture_fd_output=False"],
            )
    except papermill.PapermillExecutionError as error:
        if error.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel first
            target.unlink(missing_ok=True)
            raise KeyboardInterrupt from None
        where = f"cell {error.exec_count}" if error.exec_count else "a cell"
        message = (
            error.evalue if error.ename == "ParameterError" else f"{error.ename}: {error.evalue}"
        )
        raise RunFailed(
            f"{path.name} stopped in {where}: {message}\n  executed notebook: "
            f"{target}\n  kernel log: {log}"
        ) from None
    except KeyboardInterrupt:
        target.unlink(missing_ok=True)  # half-executed: never left where a finished one would be
        raise
    seconds = time.perf_counter() - start
    if progress:
        print(f"done in {seconds:.0f} s", flush=True)
    return seconds


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=sorted(PROFILES))
    parser.add_argument("--notebooks", default="all", help="'all' or numbers, e.g. 01,02")
    parser.add_argument(
        "--dataset",
        default=None,
        help="DATASET of the image notebooks, e.g. folder:/path/to/images or eurosat",
    )
    parser.add_argument(
        "--series",
        default=None,
        help="notebook 05's DATASET, e.g. GunPoint or /path/to/my_series.npz",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter for every chosen notebook",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="default: outputs/<profile> (outputs/<data set>-<profile> with --dataset)",
    )
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR)
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, separator, value = item.partition("=")
        if not separator or not name.isidentifier():
            parser.error(f"--set takes NAME=VALUE, not {item!r}")
        overrides[name] = _literal(value)
    try:
        output_dir = run_series(
            args.profile,
            args.notebooks,
            args.output_dir,
            args.notebooks_dir.resolve(),
            overrides,
            dataset=args.dataset,
            series=args.series,
        )
    except RunFailed as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished notebooks and their results are kept; "
            "run the same command again to redo the rest",
            file=sys.stderr,
        )
        return 130
    print(f"results: {output_dir / 'results.json'}\nreport:  {output_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
