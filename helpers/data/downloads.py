"""Robust downloads: streaming, resume, retries, verification against published checksums.

``download(resource, folder)`` streams a file to ``<folder>/<name>.part`` with
a progress bar, resumes a partial ``.part`` with an HTTP ``Range`` request,
retries transient failures with exponential backoff, refuses an HTML page
served in place of the file, checks the size and the published checksum and
only then renames the file to its final name. A file under its final name
has therefore always been verified, and a second call does nothing.

Every failure is a ``DownloadError`` subclass whose message is one line that
says what happened and what to do.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from helpers.paths import atomic_write_bytes, discard_damaged, file_digests

CHUNK_SIZE = 1 << 20
USER_AGENT = "transfer-learning-notebooks/0.1 (data_download.py; python-urllib)"
#: HTTP statuses worth retrying (the server or a proxy may recover).
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class DownloadError(RuntimeError):
    """A download or preparation failed; the message is one line that names the fix."""


class NetworkUnavailableError(DownloadError):
    """The host could not be reached at all (no network, DNS failure, refused, timed out)."""


class NotFoundError(DownloadError):
    """The server answered 404/410: the file is not (or no longer) at that address."""


class ChecksumMismatchError(DownloadError):
    """The downloaded file has the wrong size or checksum; it has been removed."""


class HTMLPageError(DownloadError):
    """The server sent an HTML page (an error or login page) instead of the file."""


class DiskFullError(DownloadError):
    """Not enough free disk space for the download or its extraction."""


class _Transient(Exception):
    """Internal: a failure worth retrying; ``error`` is what to raise when retries run out."""

    def __init__(self, error: DownloadError):
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Resource:
    """One file to download: where from, its name on disk and how to verify it.

    ``sha256``/``md5``/``size`` are the published values (None where nothing is
    published: then the checksum is recorded on first download and verified
    afterwards). ``mirrors`` serve byte-identical copies, tried in order.
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    mirrors: tuple[str, ...] = ()
    checksum_source: str = ""

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)


def human_size(n_bytes: float | None) -> str:
    """``94280567`` -> ``'94.3 MB'`` (decimal units, as download pages use)."""
    if n_bytes is None:
        return "unknown size"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.1f} TB"


def verify_file(path: Path, resource: Resource, known_checksums: Path | None = None) -> str:
    """Check ``path`` against the resource's size and checksums; return its sha256.

    Without a published checksum, the sha256 and size are recorded in
    ``known_checksums`` (a JSON file) on first use and compared on later uses.
    Raises ``ChecksumMismatchError`` (the caller removes the file).
    """
    size = path.stat().st_size
    if resource.size is not None and size != resource.size:
        raise ChecksumMismatchError(
            f"{resource.filename}: got {size:,} bytes, expected {resource.size:,}; "
            "the file was removed, run the command again"
        )
    algorithms = ("sha256", "md5") if resource.md5 else ("sha256",)
    digests = file_digests(path, algorithms)
    for name in ("sha256", "md5"):
        expected = getattr(resource, name)
        if expected and digests[name] != expected.lower():
            raise ChecksumMismatchError(
                f"{resource.filename}: {name} {digests[name]} does not match the published "
                f"{expected}; "
                "the file was removed, run the command again (if it persists, "
                "the server sends a different file)"
            )
    if not resource.sha256 and not resource.md5 and known_checksums is not None:
        records = _recorded_checksums(known_checksums)
        record = records.get(resource.filename)
        if record is None:
            records[resource.filename] = {
                "sha256": digests["sha256"],
                "size": size,
                "url": resource.url,
                "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            atomic_write_bytes(
                known_checksums, (json.dumps(records, indent=2, sort_keys=True) + "\n").encode()
            )
        elif record["sha256"] != digests["sha256"] or record["size"] != size:
            raise ChecksumMismatchError(
                f"{resource.filename}: sha256 {digests['sha256']} differs from the one recorded "
                "on first download "
                f"({record['sha256']}, in {known_checksums}); the file was removed, "
                "run the command again"
            )
    return digests["sha256"]


def _recorded_checksums(path: Path) -> dict:
    """The checksums recorded on first downloads; a damaged
    record file is named, removed and started afresh."""
    if not path.exists():
        return {}
    try:
        records = json.loads(path.read_text())
        if not isinstance(records, dict) or not all(
            isinstance(r, dict) and {"sha256", "size"} <= r.keys() for r in records.values()
        ):
            raise ValueError("not a mapping of file name -> {sha256, size}")
        return records
    except (ValueError, UnicodeDecodeError) as error:
        discard_damaged(path, error, "checksum record")
        return {}


def download(
    resource: Resource,
    folder: Path,
    *,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    known_checksums: Path | None = None,
) -> Path:
    """Download ``resource`` into ``folder`` (verified, atomic); return the final path.

    A file already under its final name was verified before it was renamed, so
    it is returned at once. A ``<name>.part`` left by an interrupted run is
    resumed. Mirrors are tried in order when the main address fails.
    """
    folder = Path(folder)
    target = folder / resource.filename
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{resource.filename}.part"
    errors: list[DownloadError] = []
    for url in resource.urls:
        try:
            _fetch_with_retries(
                url,
                part,
                resource,
                retries=retries,
                backoff=backoff,
                timeout=timeout,
                progress=progress,
            )
            verify_file(part, resource, known_checksums)
        except DiskFullError:
            raise
        except ChecksumMismatchError as error:
            part.unlink(missing_ok=True)  # wrong bytes: never resume from them
            errors.append(error)
            continue
        except DownloadError as error:
            errors.append(error)  # the .part (if any) is kept: mirrors and later runs resume it
            continue
        os.replace(part, target)
        return target
    first = errors[0]
    if len(errors) > 1:
        raise type(first)(f"{first} (and {len(errors) - 1} mirror(s) failed too: {errors[-1]})")
    raise first


def _fetch_with_retries(
    url: str,
    part: Path,
    resource: Resource,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    progress: bool,
) -> None:
    attempt = 0
    while True:
        try:
            _fetch_once(url, part, resource, timeout=timeout, progress=progress)
            return
        except _Transient as transient:
            attempt += 1
            if attempt > retries:
                raise transient.error from None
            time.sleep(backoff * 2 ** (attempt - 1))


def _network_error(url: str, reason: object) -> _Transient:
    host = urllib.parse.urlsplit(url).netloc
    return _Transient(
        NetworkUnavailableError(
            f"no network: cannot reach {host} ({reason}); check the connection or proxy, "
            "then run the command again"
        )
    )


def _broken_connection(url: str, received: int, reason: object) -> _Transient:
    return _Transient(
        DownloadError(
            f"connection to {url} broke after {human_size(received)} "
            f"({reason}); run the command again to resume"
        )
    )


def _fetch_once(
    url: str, part: Path, resource: Resource, *, timeout: float, progress: bool
) -> None:
    offset = part.stat().st_size if part.exists() else 0
    if part.exists() and resource.size is not None and offset >= resource.size:
        if offset == resource.size:
            return  # complete: verification decides
        part.unlink()
        offset = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code in (404, 410):
            raise NotFoundError(
                f"HTTP {error.code} Not Found: {url} is not there (moved or removed); "
                "see the data set's homepage in `python data_download.py --list`"
            ) from None
        if error.code == 416 and offset:
            part.unlink(missing_ok=True)  # the server will not resume from here: start over
            raise _Transient(
                DownloadError(f"HTTP 416 from {url}: cannot resume; run the command again")
            ) from None
        if error.code in TRANSIENT_STATUSES:
            raise _Transient(
                DownloadError(
                    f"HTTP {error.code} {error.reason} from {url} after several attempts; "
                    "try again later"
                )
            ) from None
        raise DownloadError(f"HTTP {error.code} {error.reason} from {url}") from None
    except urllib.error.URLError as error:
        raise _network_error(url, error.reason) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
        raise _network_error(url, error) from None

    with response:
        if offset and response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                part.unlink(missing_ok=True)
                raise _Transient(
                    DownloadError(
                        f"{url} answered a range request with {content_range!r}; "
                        "run the command again"
                    )
                )
        else:
            offset = 0  # 200: the server sends the whole file
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else resource.size
        try:
            first = response.read(CHUNK_SIZE)
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
            raise _Transient(
                DownloadError(
                    f"connection to {url} broke ({error}); run the command again to resume"
                )
            ) from None
        if offset == 0 and _looks_like_html(first, response.headers.get("Content-Type", "")):
            raise HTMLPageError(
                f"{url} sent an HTML page instead of {resource.filename} "
                "(an error, login or quota page); "
                "open the address in a browser to see why, or try again later"
            )
        if total is not None:
            check_free_space(part.parent, total - offset, what=resource.filename)
        received = offset
        try:
            bar = tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=resource.filename,
                disable=not progress,
                leave=False,
            )
            with open(part, "ab" if offset else "wb") as handle, bar:
                block = first
                while block:
                    handle.write(block)
                    received += len(block)
                    bar.update(len(block))
                    block = response.read(CHUNK_SIZE)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"disk full while writing {part} ({human_size(received)} written); "
                    "free space or use --dest, then run the command again to resume"
                ) from None
            if isinstance(error, (TimeoutError, socket.timeout, ConnectionError)):
                raise _broken_connection(url, received, error) from None
            raise
        except http.client.HTTPException as error:
            raise _broken_connection(url, received, error) from None
    if total is not None and received < total:
        raise _Transient(
            DownloadError(
                f"connection to {url} closed after {received:,} of {total:,} bytes; "
                "run the command again to resume"
            )
        )


_ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x93NUMPY",
    b"\x1f\x8b",
    b"\x89HDF",
    b"BZh",
    b"\xfd7zXZ",
)


def _looks_like_html(first_bytes: bytes, content_type: str) -> bool:
    """True for an HTML page: by its first bytes, or by
    its Content-Type when the bytes are no known archive."""
    head = first_bytes[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        head.startswith(b"<?xml") and b"<html" in head
    ):
        return True
    return content_type.lower().startswith("text/html") and not first_bytes.startswith(
        _ARCHIVE_MAGIC
    )


def check_free_space(folder: Path, needed: int, what: str = "the download") -> None:
    """Raise ``DiskFullError`` if ``folder``'s file system has fewer than ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DiskFullError(
            f"disk full: {what} needs {human_size(needed)} but {folder} has {human_size(free)} "
            "free; free space or use --dest"
        )
