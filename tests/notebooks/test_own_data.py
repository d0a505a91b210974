"""The user's own images: a 4-class folder through every image notebook without an ELPV-only word in
the outputs, a 2-image-per-class folder that each notebook runs or refuses in one sentence, a
corrupt file skipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest

from helpers.runner import RunFailed, run_series

#: words that belong to the default data set only: published
#: ELPV results, module types, defect probabilities
ELPV_ONLY = re.compile(
    r"solar|defective|functional|module.type|\bmono\b|\bpoly\b|Deitsch|VGG19|SVM|expert|elpv|ELPV|\bp=",
    re.IGNORECASE,
)


def outputs_text(path: Path) -> str:
    """Everything a reader sees in the outputs of an executed
    notebook (text, tables, markdown; not the images)."""
    notebook = nbformat.read(path, as_version=4)
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [
                data.get("text/plain", ""),
                data.get("text/markdown", ""),
                data.get("text/html", ""),
            ]
            parts.append(output.get("evalue", ""))
    return "\n".join(str(p) for p in parts)


@pytest.mark.notebook
def test_a_four_class_folder_runs_every_image_notebook_about_itself(four_class_run):
    output_dir = four_class_run
    results = json.loads((output_dir / "results.json").read_text())
    assert set(results) == {"01", "02", "03", "04", "06"}
    assert (
        results["01"]["linear_probe_accuracy"]
        > results["01"]["majority_accuracy"]
        == pytest.approx(0.25)
    )
    assert (
        results["02"]["lgbm_test_accuracy"] > 0.25
        and results["03"]["finetuned_test_accuracy"] > 0.25
    )
    assert (
        results["04"]["pointing_game_accuracy"]
        > results["04"]["pointing_game_random_baseline"] - 0.1
    )
    # no label uncertainty in a folder
    assert "relabel_flagged" in results["06"] and results["06"]["relabel_flagged"] == 0
    assert (output_dir / "models" / "folder-shapes_finetuned.keras").exists() and not list(
        (output_dir / "models").glob("elpv*")
    )
    for notebook in sorted(output_dir.glob("0*.ipynb")):
        found = ELPV_ONLY.findall(outputs_text(notebook))
        assert not found, (
            f"{notebook.name} shows ELPV-only content on another data set: {sorted(set(found))}"
        )
    assert "target class: 'stripes', the last of" in outputs_text(
        output_dir / "04_class_activation_maps.ipynb"
    )
    notebook_02 = nbformat.read(output_dir / "02_gradient_boosted_baseline.ipynb", as_version=4)
    variants = notebook_02.metadata.papermill.parameters["VARIANTS"]
    assert results["02"]["chosen_features"] in variants  # chosen by the study
    assert results["03"]["reloaded_same_predictions"] is True
    assert_only_the_top_was_fine_tuned(output_dir / "models", "folder-shapes")


def assert_only_the_top_was_fine_tuned(models: Path, name: str) -> None:
    """Below the cut and every BatchNorm above it: the head-only weights; the top trained."""
    head_only = keras.models.load_model(models / f"{name}_head_only.keras")
    tuned = keras.models.load_model(models / f"{name}_finetuned.keras")
    for frozen in ("block_1_project", "block_12_project", "block_14_project_BN"):
        before, after = head_only.get_layer(frozen), tuned.get_layer(frozen)
        for old, new in zip(before.get_weights(), after.get_weights()):
            np.testing.assert_array_equal(old, new)
    top = zip(head_only.get_layer("Conv_1").get_weights(), tuned.get_layer("Conv_1").get_weights())
    assert any(not np.array_equal(old, new) for old, new in top)
    assert (models / f"{name}_checkpoint.keras").exists()


@pytest.mark.notebook
@pytest.mark.parametrize(
    "number, sentence",
    [
        (
            "02",
            "3-fold cross-validation needs at least 3 images of each class, "
            "the smallest class has 1",
        ),
        ("03", "needs at least 4 images of each class, the smallest class has 1"),
        ("04", "too few for 3x3 mosaics"),
        ("06", "planting, detecting and retraining needs at least 10 images of each class"),
    ],
)
def test_a_two_image_per_class_folder_is_refused_in_one_sentence_before_any_work(
    tmp_path, shape_folder, small_images, number, sentence
):
    folder = shape_folder(tmp_path / "tiny", per_class=2)
    with pytest.raises(RunFailed) as failure:
        run_series(
            "smoke",
            number,
            tmp_path / "outputs",
            overrides=small_images,
            dataset=f"folder:{folder}",
            progress=False,
        )
    first_line = str(failure.value).splitlines()[0]
    assert sentence in first_line and "Traceback" not in str(failure.value)


@pytest.mark.notebook
def test_notebook_01_runs_on_two_images_per_class_and_skips_a_corrupt_file(
    tmp_path, shape_folder, small_images
):
    folder = shape_folder(tmp_path / "tiny", per_class=2)
    (folder / "disks" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated, not an image")
    # too few images for t-SNE: skipped with a sentence, not an error
    overrides = {**small_images, "RUN_TSNE": True}
    output_dir = run_series(
        "smoke",
        "01",
        tmp_path / "outputs",
        overrides=overrides,
        dataset=f"folder:{folder}",
        progress=False,
    )
    results = json.loads((output_dir / "results" / "01.json").read_text())
    assert (
        results["n_images"] == 8 and results["feature_dim"] == 1280 and results["image_size"] == 64
    )
    assert results["majority_accuracy"] == pytest.approx(0.25)
    text = outputs_text(output_dir / "01_cnn_featurization.ipynb")
    assert "corrupt.png" in text and "t-SNE skipped" in text


@pytest.mark.notebook
def test_a_bad_parameter_stops_the_notebook_in_one_sentence_before_any_work(tmp_path):
    with pytest.raises(RunFailed) as failure:
        run_series(
            "smoke", "01", tmp_path / "outputs", overrides={"IMAGE_SIZE": -5}, progress=False
        )
    assert str(failure.value).splitlines()[0] == (
        "01_cnn_featurization.ipynb stopped in cell 4: IMAGE_SIZE = -5 is not allowed: "
        "set IMAGE_SIZE to an integer from 32 to 1024."
    )
