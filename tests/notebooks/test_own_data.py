"""The user's own images: notebook 01 runs end to end on DATASET="folder:..." under papermill."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def stripes(orientation: str, rng: np.random.Generator, size: int = 80) -> np.ndarray:
    """An RGB image of stripes (horizontal or vertical) with a random period, phase and colour."""
    period, phase = rng.integers(6, 14), rng.uniform(0, 2 * np.pi)
    coordinate = np.arange(size)[:, None] if orientation == "horizontal" else np.arange(size)[None, :]
    wave = (np.sin(2 * np.pi * coordinate / period + phase) > 0).astype(float)
    wave = np.broadcast_to(wave, (size, size))
    colour = rng.uniform(0.4, 1.0, 3)
    image = 30 + 200 * wave[..., None] * colour + rng.normal(0, 8, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def make_image_folder(root: Path, per_class: int = 12) -> Path:
    """root/<class>/*.png: two classes of striped images, plus one corrupt file the loader must skip."""
    rng = np.random.default_rng(7)
    for orientation in ("horizontal", "vertical"):
        (root / orientation).mkdir(parents=True)
        for n in range(per_class):
            cv2.imwrite(str(root / orientation / f"{orientation}_{n:02d}.png"), stripes(orientation, rng))
    (root / "horizontal" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated, not an image")
    return root


@pytest.mark.notebook
@pytest.mark.skipif(not list(NOTEBOOKS.glob("01_*.ipynb")), reason="notebook 01 is not in notebooks/ yet")
def test_notebook_01_runs_on_a_folder_of_images(run_notebook, tmp_path):
    folder = make_image_folder(tmp_path / "my_images")
    results = run_notebook("01", DATASET=f"folder:{folder}")
    assert results["n_images"] == 24  # 2 x 12 readable images; the corrupt file was skipped
    assert results["feature_dim"] == 1280 and results["image_size"] == 96
    assert results["majority_accuracy"] == pytest.approx(0.5)
    assert results["linear_probe_accuracy"] > results["majority_accuracy"]
