"""Checks of a notebook's parameters and data before any
long work: one sentence naming the parameter and the fix."""

from __future__ import annotations

import difflib
from numbers import Integral, Real

import numpy as np


class ParameterError(ValueError):
    """A notebook parameter is wrong; the message names it and says what to set instead."""


def suggest(name: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: parameter -> (smallest, largest, None allowed) for the integer parameters the notebooks share
INTEGER_RULES: dict[str, tuple[int, int | None, bool]] = {
    "IMAGE_SIZE": (32, 1024, False),
    "TILE_SIZE": (32, 1024, False),
    "BATCH_SIZE": (1, 4096, False),
    "MAX_TRAIN": (4, None, True),
    "MAX_TEST": (2, None, True),
    "CV_FOLDS": (2, 20, False),
    "SEARCH_ITERATIONS": (1, 1000, False),
    "SEED": (0, None, False),
    "SEEDS": (1, 100, False),
    "VIEWS": (1, 8, False),
    "TTA_VIEWS": (1, 8, False),
    "EPOCHS": (1, 100_000, False),
    "FINE_TUNE_EPOCHS": (0, 100_000, False),
    "TELEMETRY_EPOCHS": (1, 100_000, False),
    "PATIENCE": (1, 10_000, False),
    "EXERCISE_EPOCHS": (1, 100_000, False),
    "EXERCISE_IMAGES": (4, None, True),
    "GRID": (2, 8, False),
    "N_TRAIN_MOSAICS": (10, None, False),
    "N_VALIDATION_MOSAICS": (4, None, False),
    "N_TEST_MOSAICS": (4, None, False),
    "ATTENTION_UNITS": (1, 4096, False),
    "N_CLUSTERS": (2, 100, False),
    "WORKERS": (1, 1024, False),
}
#: parameter -> (smallest, largest) for the fractions, rates and other real numbers
FRACTION_RULES: dict[str, tuple[float, float]] = {
    "VALIDATION_FRACTION": (0.01, 0.5),
    "DROPOUT": (0.0, 0.9),
    "JITTER": (0.0, 0.5),
    "RATE_WITH": (0.0, 1.0),
    "RATE_OTHER": (0.0, 1.0),
    "ARTIFACT_SIZE": (0.05, 0.5),
    "FINE_TUNE_LEARNING_RATE": (1e-7, 1.0),
    "RELABEL_CONFIDENCE": (0.5, 1.0),
    "LSE_R": (0.01, 100.0),
}


def check_parameters(**parameters) -> None:
    """Check each named parameter against its rule (type and
    range); raise ``ParameterError`` on the first bad one."""
    for name, value in parameters.items():
        if name in INTEGER_RULES:
            low, high, allow_none = INTEGER_RULES[name]
            if value is None and allow_none:
                continue
            wanted = (
                f"an integer from {low}"
                + (f" to {high}" if high is not None else " up")
                + (" (or None for all)" if allow_none else "")
            )
            if (
                isinstance(value, bool)
                or not isinstance(value, Integral)
                or value < low
                or (high is not None and value > high)
            ):
                raise ParameterError(f"{name} = {value!r} is not allowed: set {name} to {wanted}.")
        elif name in FRACTION_RULES:
            low, high = FRACTION_RULES[name]
            if isinstance(value, bool) or not isinstance(value, Real) or not low <= value <= high:
                raise ParameterError(
                    f"{name} = {value!r} is not allowed: set {name} to a number from {low:g} "
                    f"to {high:g}."
                )
        else:
            raise ValueError(f"no rule for parameter {name}")


def check_choice(name: str, value, choices: list) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        hint = suggest(str(value), [str(c) for c in choices]) if isinstance(value, str) else ""
        raise ParameterError(f"{name} = {value!r} is not allowed{hint}: choose one of {choices}.")


def check_enough_images(labels: np.ndarray, per_class: int, *, what: str, fix: str) -> None:
    """Every class needs at least ``per_class`` images for ``what`` (e.g. 5-fold
    cross-validation)."""
    counts = np.bincount(np.asarray(labels))
    present = counts[counts > 0]
    if present.size == 0 or present.min() < per_class:
        raise ParameterError(
            f"{what} needs at least {per_class} images of each class, "
            f"the smallest class has {int(present.min()) if present.size else 0}: {fix}."
        )
