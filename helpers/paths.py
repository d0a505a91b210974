"""Where data, caches and outputs live, and how files there are written, hashed and healed."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Environment variable naming the directory that downloaded data sets go to.
DATA_DIR_ENV = "TL_DATA_DIR"
#: Environment variable naming the directory for weights and feature caches.
CACHE_DIR_ENV = "TL_CACHE_DIR"

_DEFAULT_ROOT = Path.home() / ".cache" / "transfer-learning"
#: What reading a damaged ``.npz`` raises: truncated, empty, bit-flipped (CRC) or not a zip at all.
DAMAGED_NPZ = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


class CacheWarning(UserWarning):
    """A cache file was damaged: it was removed and is being rebuilt."""


def data_dir() -> Path:
    """Directory of downloaded data sets (``$TL_DATA_DIR`` or
    ``~/.cache/transfer-learning/data``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or _DEFAULT_ROOT / "data").expanduser()


def cache_root() -> Path:
    """The cache directory (``$TL_CACHE_DIR`` or ``~/.cache/transfer-learning``), not created."""
    return Path(os.environ.get(CACHE_DIR_ENV) or _DEFAULT_ROOT).expanduser()


def cache_dir(*parts: str) -> Path:
    """A sub-directory of the cache, created."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary name, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file, read once in 1 MiB blocks."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def file_sha256(path: Path) -> str:
    """The sha256 of a file, as hex."""
    return file_digests(path)["sha256"]


def discard_damaged(path: Path, error: BaseException, what: str = "cache file") -> None:
    """Warn once that ``path`` is damaged (naming it and the error), and remove it so it is
    rebuilt."""
    warnings.warn(
        f"{what} {path} is damaged ({type(error).__name__}: {error}); removed it, rebuilding",
        CacheWarning,
        stacklevel=3,
    )
    Path(path).unlink(missing_ok=True)


def cached_arrays(
    path: Path,
    compute: Callable[[], dict[str, np.ndarray]],
    required: tuple[str, ...],
    *,
    enabled: bool = True,
) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays stored in ``path`` (an ``.npz``), or ``compute()``'s,
    saved there atomically; and whether they came from disk.

    A damaged file (truncated, empty, bit-flipped, or missing one of the ``required`` arrays) is
    named in a ``CacheWarning``, removed and rebuilt: a rerun never crashes on it.
    """
    path = Path(path)
    if enabled and path.exists():
        try:
            with np.load(path) as stored:
                return {name: stored[name] for name in required}, True
        except DAMAGED_NPZ as error:
            discard_damaged(path, error)
    arrays = compute()
    if enabled:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())
    return arrays, False
