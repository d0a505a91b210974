"""Progress bars that the runner can turn off: an executed notebook would keep a frozen bar."""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.auto import tqdm


def bars_enabled(progress: bool = True) -> bool:
    """False where ``progress`` is off or ``TQDM_DISABLE`` is set (the runner sets it)."""
    return progress and not os.environ.get("TQDM_DISABLE")


def progress_bar(iterable: Iterable | None = None, *, progress: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, shown only where ``bars_enabled(progress)``."""
    return tqdm(iterable, disable=not bars_enabled(progress), **kwargs)
