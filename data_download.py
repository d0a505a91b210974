#!/usr/bin/env python
"""Download the bigger data sets and ImageNet weights the notebooks can use.

    python data_download.py --list                    # every known data set and its status here
    python data_download.py eurosat pneumoniamnist    # download, verify and prepare
    python data_download.py uci_har --dest /data/tl   # into another folder
                                                      # (then export TL_DATA_DIR=/data/tl)
    python data_download.py weights:resnet50          # cache keras.applications ImageNet weights

Downloads resume where they stopped, are verified against published checksums
and land in the data directory only when complete; a second run does nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# weights:NAME imports TensorFlow: no start-up logs in a command line tool
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.checks import suggest  # noqa: E402
from helpers.data.catalog import CATALOG, downloadable, fetch, status  # noqa: E402
from helpers.data.datasets import DatasetError  # noqa: E402
from helpers.data.downloads import DownloadError  # noqa: E402
from helpers.paths import DATA_DIR_ENV, data_dir  # noqa: E402


def weight_names() -> list[str]:
    """``weights:NAME`` for every backbone whose ImageNet weights can be cached."""
    from helpers.models.backbones import KERAS_APPLICATIONS

    return [f"weights:{name}" for name in KERAS_APPLICATIONS]


def weights_status(name: str) -> str:
    from helpers.models.backbones import cached_weights

    backbone = name.removeprefix("weights:")
    if cached_weights(backbone).exists():
        return "cached"
    return "offline (pip)" if backbone == "mobilenet_v2" else "not cached"


def print_catalog(root: Path) -> None:
    """One table: name, domain, size, license, status here, source."""
    from helpers.models.backbones import WEIGHT_MEGABYTES

    rows = [("name", "domain", "size", "license", "status", "source")]
    for name, info in CATALOG.items():
        rows.append((name, info.domain, info.size, info.license, status(name, root), info.source))
    for name in weight_names():
        backbone = name.removeprefix("weights:")
        rows.append(
            (
                name,
                "ImageNet weights",
                f"~{WEIGHT_MEGABYTES[backbone]} MB",
                "see keras.applications",
                weights_status(name),
                "keras.applications",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths)) + "  " + row[5])
    print(f"\ndata directory: {root}  (set {DATA_DIR_ENV} or use --dest to move it)")
    print(
        'your own images: DATASET = "folder:/path/to/images" (one sub-folder per class) in any '
        "image notebook"
    )


def usable_folder(root: Path) -> str | None:
    """Why ``root`` cannot hold downloads (one line), or None when it can."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as error:
        return (
            f"cannot write to {root} ({error.strerror or error}): "
            "choose a writable folder with --dest"
        )
    return None


def fetch_one(name: str, root: Path, args: argparse.Namespace) -> Path | None:
    if name.startswith("weights:"):
        from helpers.models.backbones import WeightsUnavailableError, prefetch_weights

        try:
            return prefetch_weights(name.removeprefix("weights:"), include_top=args.include_top)
        except WeightsUnavailableError as error:
            raise DownloadError(
                f"ImageNet weights for {name} could not be downloaded; "
                f"check the network and run the command again ({error})"
            ) from None
    return fetch(
        name, root, keep_archives=args.keep_archives, retries=args.retries, progress=not args.quiet
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Data goes to ${DATA_DIR_ENV} (default {data_dir()}). "
        f"With --dest, set {DATA_DIR_ENV} to the same folder "
        "before starting Jupyter or papermill, so the notebooks find the data. "
        "Weights go to Keras' cache (~/.keras/models).",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"data sets ({', '.join(downloadable())}, all) or weights:BACKBONE",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="list every known data set with its size, license and status",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"data directory (default: ${DATA_DIR_ENV} or {data_dir()})",
    )
    parser.add_argument(
        "--keep-archives",
        action="store_true",
        help="keep the downloaded zip files after extraction",
    )
    parser.add_argument(
        "--include-top",
        action="store_true",
        help="weights: also cache the ImageNet classifier head",
    )
    parser.add_argument(
        "--retries", type=int, default=4, help="retries per file on network errors (default 4)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    root = (args.dest or data_dir()).expanduser().resolve()
    if args.list:
        print_catalog(root)
        return 0
    if not args.names:
        parser.error("name at least one data set, or use --list")
    names = [n for name in args.names for n in (downloadable() if name == "all" else [name])]
    known = list(CATALOG) + weight_names()
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(
            f"unknown data set {unknown[0]!r}{suggest(unknown[0], known)}: "
            "`python data_download.py --list` shows the known names"
        )
    if any(not name.startswith("weights:") for name in names) and (problem := usable_folder(root)):
        print(f"error: {problem}", file=sys.stderr)
        return 2

    failures = 0
    for name in names:
        if not name.startswith("weights:") and CATALOG[name].package is not None:
            print(
                f"{name}: available offline (comes with the {CATALOG[name].package} package); "
                "nothing to download"
            )
            continue
        before = weights_status(name) if name.startswith("weights:") else status(name, root)
        try:
            path = fetch_one(name, root, args)
        except (DownloadError, DatasetError) as error:
            print(f"error: {name}: {error}", file=sys.stderr)
            failures += 1
            continue
        except KeyboardInterrupt:
            print(
                f"\ninterrupted: run `python data_download.py {name}` again to resume",
                file=sys.stderr,
            )
            return 130
        print(
            f"{name}: already here ({path}); nothing to do"
            if before in ("downloaded", "cached")
            else f"{name}: ready in {path}"
        )
    if (
        args.dest is not None
        and any(not n.startswith("weights:") for n in names)
        and Path(os.environ.get(DATA_DIR_ENV, "")) != root
    ):
        print(
            f"note: the notebooks read {DATA_DIR_ENV}; run `export {DATA_DIR_ENV}={root}` before "
            "starting them"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
