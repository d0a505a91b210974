#!/usr/bin/env python
"""Download the bigger data sets and ImageNet weights the notebooks can use.

    python data_download.py --list                    # every known data set and its status here
    python data_download.py eurosat pneumoniamnist    # download, verify and prepare
    python data_download.py uci_har --dest /data/tl   # into another folder (then export TL_DATA_DIR=/data/tl)
    python data_download.py weights:resnet50          # cache keras.applications ImageNet weights

Downloads resume where they stopped, are verified against published checksums
and land in the data directory only when complete; a second run does nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from helpers.datasets import DatasetError
from helpers.downloads import DownloadError
from helpers.paths import DATA_DIR_ENV, data_dir
from helpers.remote_datasets import CATALOG, downloadable, fetch, status


def print_catalog(root: Path) -> None:
    """One table: name, domain, size, license, status here, source."""
    rows = [("name", "domain", "size", "license", "status", "source")]
    for name, info in CATALOG.items():
        rows.append((name, info.domain, info.size, info.license, status(name, root), info.source))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths)) + "  " + row[5])
    print(f"\ndata directory: {root}  (set {DATA_DIR_ENV} or use --dest to move it)")
    print("your own images: DATASET = \"folder:/path/to/images\" (one sub-folder per class) in any image notebook")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Data goes to ${DATA_DIR_ENV} (default {data_dir()}). With --dest, set {DATA_DIR_ENV} to the same folder "
        "before starting Jupyter or papermill, so the notebooks find the data. Weights go to Keras' cache (~/.keras/models).",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"data sets ({', '.join(downloadable())}, all) or weights:BACKBONE")
    parser.add_argument("--list", action="store_true", help="list every known data set with its size, license and status")
    parser.add_argument("--dest", type=Path, default=None, help=f"data directory (default: ${DATA_DIR_ENV} or {data_dir()})")
    parser.add_argument("--keep-archives", action="store_true", help="keep the downloaded zip files after extraction")
    parser.add_argument("--include-top", action="store_true", help="weights: also cache the ImageNet classifier head")
    parser.add_argument("--retries", type=int, default=4, help="retries per file on network errors (default 4)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    root = (args.dest or data_dir()).expanduser().resolve()
    if args.list:
        print_catalog(root)
        return 0
    if not args.names:
        parser.error("name at least one data set, or use --list")
    names = [n for name in args.names for n in (downloadable() if name == "all" else [name])]
    unknown = [name for name in names if name not in CATALOG]
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}: `python data_download.py --list` shows the known names")

    failures = 0
    for name in names:
        info = CATALOG[name]
        if info.offline and info.kind != "weights":
            print(f"{name}: available offline (comes with the {info.package} package); nothing to download")
            continue
        before = status(name, root)
        try:
            path = fetch(name, root, keep_archives=args.keep_archives, include_top=args.include_top,
                         retries=args.retries, progress=not args.quiet)
        except (DownloadError, DatasetError) as error:
            print(f"error: {name}: {error}", file=sys.stderr)
            failures += 1
            continue
        except KeyboardInterrupt:
            print(f"\ninterrupted: run `python data_download.py {name}` again to resume", file=sys.stderr)
            return 130
        if before in ("downloaded", "cached"):
            print(f"{name}: already here ({path}); nothing to do")
        else:
            print(f"{name}: ready in {path}")
    if args.dest is not None and any(CATALOG[n].kind != "weights" for n in names) and Path(os.environ.get(DATA_DIR_ENV, "")) != root:
        print(f"note: the notebooks read {DATA_DIR_ENV}; run `export {DATA_DIR_ENV}={root}` before starting them")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
