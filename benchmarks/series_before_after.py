"""Wall time of the notebook series at two commits (or one
commit under two settings) on this machine, in one session.

    python benchmarks/series_before_after.py BEFORE AFTER [--notebooks 01,02,03,04,06]
        [--profile full] [--output FILE]
    python benchmarks/series_before_after.py HEAD HEAD --before-env TL_RUNTIME=tensorflow
        # the runtime alone

Each commit is checked out into a worktree of its own with an empty cache of its own (only the
ImageNet checkpoint copied in, so neither run downloads it); both run with this virtual environment,
each importing its own ``helpers``, under its own ``--before-env``/``--after-env`` variables. The
notebooks are interleaved, before and after of one notebook back to back, the order alternating from
one notebook to the next, so a machine that slows down over the hours slows both alike. After each
run the record is rewritten: per notebook and commit, the runner's wall time, the seconds of the
exercise solutions (cells tagged ``solution``; the first commit may have none), the notebook's
recorded results and when it finished. A stopped session leaves every finished run recorded;
``--resume`` (same commits, same ``--workdir``) keeps them and runs only the rest, each pair still
back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from helpers.report.results import machine_description

REPO = Path(__file__).resolve().parent.parent
CHECKPOINT = "mobilenet_v2-b0353104.pth"


def worktree(commit: str, folder: Path) -> Path:
    """A clean checkout of ``commit`` at ``folder`` (made once)."""
    if not folder.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), commit],
            check=True,
            capture_output=True,
        )
    at, wanted = (
        subprocess.run(
            ["git", "-C", str(where), "rev-parse", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        for where, ref in ((folder, "HEAD"), (REPO, commit))
    )
    if at != wanted:
        raise SystemExit(
            f"{folder} is a checkout of {at[:7]}, not {commit}: choose another --workdir"
        )
    return folder


def forget_unfinished(cache: Path, runs: list[dict]) -> None:
    """Remove what a run stopped midway wrote to ``cache`` (files newer than the last finished run),
    so a resumed run starts from the state a run in one go would have had."""
    finished = [
        time.mktime(time.strptime(run["finished"], "%Y-%m-%d %H:%M:%S"))
        for run in runs
        if "finished" in run
    ]
    if finished:
        for path in cache.rglob("*"):
            if path.is_file() and path.stat().st_mtime > max(finished) + 1:
                path.unlink()


def empty_cache(folder: Path) -> Path:
    """A cache folder holding only the ImageNet checkpoint (both commits convert it themselves)."""
    from helpers.models.imagenet import checkpoint_path

    (folder / "weights").mkdir(parents=True, exist_ok=True)
    shutil.copy2(checkpoint_path(), folder / "weights" / CHECKPOINT)
    return folder


def solution_seconds(executed: Path) -> float:
    """Seconds the cells tagged ``solution`` took, from papermill's per-cell durations."""
    cells = nbformat.read(executed, as_version=4).cells
    return sum(
        float(cell.metadata.get("papermill", {}).get("duration") or 0)
        for cell in cells
        if "solution" in cell.metadata.get("tags", [])
    )


def run_notebook(
    tree: Path, cache: Path, profile: str, number: str, variables: dict[str, str]
) -> dict:
    """Run one notebook of ``tree`` through its own runner;
    its wall time, solution seconds and recorded results."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "TL_CACHE_DIR": str(cache),
        "TF_ENABLE_ONEDNN_OPTS": "1",
    }
    environment.pop("TL_RUNTIME", None)
    environment.update(variables)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "helpers.runner", "--profile", profile, "--notebooks", number],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    outputs = tree / "outputs" / profile
    executed = next(outputs.glob(f"{number}_*.ipynb"), None)
    results_file = outputs / "results" / f"{number}.json"
    return {
        "seconds": round(seconds, 1),
        "solution_seconds": round(solution_seconds(executed), 1) if executed else None,
        "returncode": completed.returncode,
        "error": completed.stderr.strip().splitlines()[-3:] if completed.returncode else None,
        "results": json.loads(results_file.read_text()) if results_file.exists() else None,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def summarize(record: dict) -> dict:
    """Totals over the notebooks both commits finished, and their ratio."""
    done = [
        n
        for n, runs in record["notebooks"].items()
        if all(runs.get(w, {}).get("returncode") == 0 for w in ("before", "after"))
    ]
    total = {
        w: sum(record["notebooks"][n][w]["seconds"] for n in done) for w in ("before", "after")
    }
    return {
        "notebooks": done,
        "before_seconds": round(total["before"], 1),
        "after_seconds": round(total["after"], 1),
        "before_over_after": round(total["before"] / total["after"], 3) if total["after"] else None,
    }


def variables(assignments: list[str]) -> dict[str, str]:
    """``["NAME=value", ...]`` as a dict, each checked to have its ``=``."""
    bad = [item for item in assignments if "=" not in item]
    if bad:
        raise SystemExit(f"environment settings {bad} are not NAME=value")
    return dict(item.split("=", 1) for item in assignments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--notebooks", default="01,02,03,04,06")
    parser.add_argument("--profile", default="full")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the worktrees and caches go (default: a new temporary folder)",
    )
    parser.add_argument(
        "--output", type=Path, default=REPO / "results" / "series_before_after.json"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished runs of --output (same commits) and run the rest",
    )
    parser.add_argument(
        "--before-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable set for the before runs",
    )
    parser.add_argument(
        "--after-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable set for the after runs",
    )
    args = parser.parse_args()
    environments = {"before": variables(args.before_env), "after": variables(args.after_env)}

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="series-ab-"))
    trees = {
        which: worktree(commit, workdir / which)
        for which, commit in (("before", args.before), ("after", args.after))
    }
    caches = {which: empty_cache(workdir / f"cache-{which}") for which in trees}
    commits = {
        which: subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        for which, tree in trees.items()
    }
    record = {
        "command": " ".join(["python", "benchmarks/series_before_after.py", *sys.argv[1:]]),
        "machine": machine_description(),
        "profile": args.profile,
        "commits": commits,
        "environments": environments,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "notebooks": {},
    }
    if args.resume and args.output.exists():
        previous = json.loads(args.output.read_text())
        if (previous["commits"], previous.get("environments", {}), previous["profile"]) != (
            commits,
            environments,
            args.profile,
        ):
            raise SystemExit(
                f"{args.output} records another pair ({previous['commits']}, "
                f"{previous.get('environments')}): choose another --output"
            )
        if previous["machine"] != record["machine"]:
            raise SystemExit(
                f"{args.output} was measured on {previous['machine']}, "
                f"this is {record['machine']}: a pair must share a machine"
            )
        record["notebooks"] = previous["notebooks"]
        for which, cache in caches.items():
            forget_unfinished(
                cache, [runs[which] for runs in previous["notebooks"].values() if which in runs]
            )
        record["resumed"] = [
            *previous.get("resumed", []),
            {"started": record["started"], "machine": record["machine"]},
        ]
        record["command"], record["machine"], record["started"] = (
            previous["command"],
            previous["machine"],
            previous["started"],
        )
    record["summary"] = summarize(record)
    for position, number in enumerate(part.strip().zfill(2) for part in args.notebooks.split(",")):
        order = ("before", "after") if position % 2 == 0 else ("after", "before")
        for which in order:
            if record["notebooks"].get(number, {}).get(which, {}).get("returncode") == 0:
                continue  # finished in the run being resumed
            print(f"{number} {which} ...", end=" ", flush=True)
            run = run_notebook(
                trees[which], caches[which], args.profile, number, environments[which]
            )
            record["notebooks"].setdefault(number, {})[which] = run
            record["summary"] = summarize(record)
            args.output.write_text(json.dumps(record, indent=2) + "\n")
            print(
                f"{run['seconds']:.0f} s"
                + ("" if run["returncode"] == 0 else f" FAILED: {run['error']}"),
                flush=True,
            )
    print(json.dumps(record["summary"], indent=2))


if __name__ == "__main__":
    main()
