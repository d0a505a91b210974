"""Where data, caches and outputs live; each root can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the directory that downloaded data sets go to.
DATA_DIR_ENV = "TL_DATA_DIR"
#: Environment variable naming the directory for weights and feature caches.
CACHE_DIR_ENV = "TL_CACHE_DIR"

_DEFAULT_ROOT = Path.home() / ".cache" / "transfer-learning"


def data_dir() -> Path:
    """Directory of downloaded data sets (``$TL_DATA_DIR`` or ``~/.cache/transfer-learning/data``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or _DEFAULT_ROOT / "data").expanduser()


def cache_dir(*parts: str) -> Path:
    """A sub-directory of the cache (``$TL_CACHE_DIR`` or ``~/.cache/transfer-learning``), created."""
    path = Path(os.environ.get(CACHE_DIR_ENV) or _DEFAULT_ROOT).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary name, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
