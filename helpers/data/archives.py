"""Preparing a downloaded data set atomically: a
staging folder renamed into place, safe zip extraction."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from helpers.data.downloads import DiskFullError, DownloadError, check_free_space


class ArchiveError(DownloadError):
    """A downloaded archive is damaged or does not hold what the data set needs."""


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``target``; rename it to ``target`` on success.

    On any failure the temporary directory is removed, so ``target`` either
    does not exist or is complete.
    """
    target = Path(target)
    if target.exists():
        raise DownloadError(
            f"{target} already exists but is not a complete data set: "
            "remove it and run the command again"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.rename(tmp, target)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"disk full while preparing {target}; free space or use --dest, "
                "then run the command again"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def extract_zip(archive: Path, into: Path, keep: Callable[[str], bool] | None = None) -> list[Path]:
    """Extract ``archive`` (members for which ``keep(name)``
    is true) into ``into``; return the files written.

    Refuses members that would land outside ``into``. Raises ``ArchiveError``
    for a damaged zip and ``DiskFullError`` when the disk fills up.
    """
    into = Path(into)
    written = []
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if keep is None or keep(m.filename)]
            needed = sum(m.file_size for m in members)
            check_free_space(into, needed, what=f"extracting {Path(archive).name}")
            for member in members:
                relative = PurePosixPath(member.filename)
                if relative.is_absolute() or ".." in relative.parts:
                    raise ArchiveError(
                        f"{archive} holds an unsafe path {member.filename!r}; "
                        "refusing to extract it"
                    )
                zipped.extract(member, into)
                if not member.is_dir():
                    written.append(into.joinpath(*relative.parts))
    except zipfile.BadZipFile as error:
        raise ArchiveError(f"{archive} is not a valid zip archive ({error})") from None
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"disk full while extracting {archive} into {into}; free space or use --dest"
            ) from None
        raise
    return written
