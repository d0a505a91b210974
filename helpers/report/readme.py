"""The README's results tables, written from the recorded runs in ``results/``
(``python -m helpers.report.readme``).

Every number in those tables comes from ``results/<profile>_profile.json`` and
``results/<name>_benchmark.json``; the tables sit between marker comments in README.md and are
rewritten whole, so no number there is ever typed by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from helpers.report.results import RECORDED_RESULTS, notebook_seconds

README = RECORDED_RESULTS.parent / "README.md"
#: the recorded profiles, as columns; full_b91df8b is the last
#: complete full run, of the code before the restructuring
PROFILES = ("smoke", "workshop", "full", "full_b91df8b")
#: (notebook, result key, what it is) for the headline table, in reading order
HEADLINES = [
    ("01", "majority_accuracy", "majority class (ELPV test split)"),
    (
        "01",
        "linear_probe_accuracy",
        "01 linear probe: logistic regression on frozen MobileNetV2 features, 224 px",
    ),
    (
        "02",
        "lgbm_test_accuracy",
        "02 LightGBM on frozen features (the variant chosen by cross-validation)",
    ),
    (
        "03",
        "head_only_test_accuracy",
        "03 GAP head only (frozen backbone, head fitted as a logistic regression)",
    ),
    ("03", "finetuned_test_accuracy", "03 GAP head + fine-tuned top blocks, soft targets"),
    ("04", "pointing_game_accuracy", "04 pointing game of the mosaic-label CAM (chance 1/9)"),
    ("05", "fcn_accuracy_basic_motions", "05 FCN with GAP, BasicMotions"),
    ("05", "lstm_accuracy_basic_motions", "05 LSTM, BasicMotions"),
    ("05", "minirocket_accuracy_basic_motions", "05 MiniRocket, BasicMotions"),
    ("05", "fcn_accuracy_japanese_vowels", "05 FCN with GAP, JapaneseVowels"),
    ("05", "lstm_accuracy_japanese_vowels", "05 LSTM, JapaneseVowels"),
    ("05", "minirocket_accuracy_japanese_vowels", "05 MiniRocket, JapaneseVowels"),
    ("05", "cam_fault_localization", "05 telemetry: true-class CAM peak inside the fault window"),
    (
        "06",
        "naive_decorrelated_test_accuracy",
        "06 naive model on the decorrelated (all stamped) test",
    ),
    ("06", "clean_decorrelated_test_accuracy", "06 clean-trained model, same test"),
    ("06", "masked_decorrelated_test_accuracy", "06 fix 1: inpaint the regions flagged from CAMs"),
    (
        "06",
        "guided_decorrelated_test_accuracy",
        "06 fix 2: CAM penalty (right for the right reasons)",
    ),
]
#: the main number of each notebook, for the per-profile trade-off table
MAIN = {
    "01": "linear_probe_accuracy",
    "02": "lgbm_test_accuracy",
    "03": "finetuned_test_accuracy",
    "04": "pointing_game_accuracy",
    "05": "fcn_accuracy_japanese_vowels",
    "06": "guided_decorrelated_test_accuracy",
    "07": "dask_lgbm_test_accuracy",
}


#: one figure per notebook, saved by its run under outputs/<profile>/figures/, shown in the README
FIGURES = {
    "01": "01_embedding.png",
    "02": "02_comparison.png",
    "03": "03_learning_curves.png",
    "04": "04_mosaics.png",
    "05": "05_telemetry.png",
    "06": "06_cams.png",
    "07": "07_lightgbm.png",
}
FIGURE_WIDTH = 640


def copy_figures(run_dir: Path, target: Path = README.parent / "docs" / "figures") -> list[Path]:
    """The README's figures: each notebook's chosen figure
    of a run, at most ``FIGURE_WIDTH`` pixels wide."""
    import cv2

    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FIGURES.values():
        source = run_dir / "figures" / name
        if source.exists():
            image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
            if image.shape[1] > FIGURE_WIDTH:
                image = cv2.resize(
                    image,
                    (FIGURE_WIDTH, round(image.shape[0] * FIGURE_WIDTH / image.shape[1])),
                    interpolation=cv2.INTER_AREA,
                )
            cv2.imwrite(str(target / name), image)
            written.append(target / name)
    return written


def load_record(name: str) -> dict:
    """``results/<name>.json`` (a profile's or a
    benchmark's record), empty when it was never recorded."""
    path = RECORDED_RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def headline_table(results: dict) -> str:
    """Model | test accuracy (or score), from one profile's record."""
    lines = ["| what | measured |", "| --- | --- |"]
    for notebook, key, label in HEADLINES:
        value = results.get(notebook, {}).get(key)
        if value is not None:
            spread = results[notebook].get(key.replace("_accuracy_", "_accuracy_std_"))
            shown = f"{value:.3f}" + (
                f" +/- {spread:.3f}" if spread is not None and "_accuracy_" in key else ""
            )
            lines.append(f"| {label} | {shown} |")
    return "\n".join(lines)


def profile_table(records: dict[str, dict]) -> str:
    """Per notebook: minutes and the main number in each recorded profile."""
    names = [p for p in PROFILES if records.get(p)]
    lines = [
        "| notebook | main number | " + " | ".join(f"{p}: min / value" for p in names) + " |",
        "| --- | --- |" + " --- |" * len(names),
    ]
    for notebook, key in MAIN.items():
        cells = []
        for profile in names:
            record = records[profile].get(notebook, {})
            seconds = notebook_seconds(record)
            minutes = f"{seconds / 60:.1f}" if seconds is not None else "-"
            cells.append(f"{minutes} / {record[key]:.3f}" if key in record else f"{minutes} / -")
        if any(cell != "- / -" for cell in cells):
            lines.append(f"| {notebook} | `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure_gallery(figures_dir: Path = README.parent / "docs" / "figures") -> str:
    """One figure per notebook (those copied into
    ``docs/figures``), each linked to its page of the course site."""
    from helpers.runner import notebook_paths

    pages = {path.name[:2]: path.stem for path in notebook_paths()}
    lines = ["| notebook | one figure of its full-profile run |", "| --- | --- |"]
    for notebook, name in FIGURES.items():
        if (figures_dir / name).exists() and notebook in pages:
            page = f"outputs/site/full/{pages[notebook]}.html"
            image = f'<img src="docs/figures/{name}" width="{FIGURE_WIDTH // 2}">'
            lines.append(
                f"| [{notebook}]({page}) ({pages[notebook][3:].replace('_', ' ')}) | {image} |"
            )
    return "\n".join(lines)


#: (benchmark file, its key under images_per_s, what it measured)
BENCHMARKS = [
    ("featurize", "keras_predict", "Keras `model.predict` (what a user writes by hand)"),
    ("featurize", "tf_function", "the `tf.function` forward pass"),
    ("featurize", "openvino", "OpenVINO, same model exported by Keras"),
    ("featurize", "onnxruntime", "ONNX Runtime, same model exported by Keras"),
    ("featurize", "pipeline", "the series' pipeline: ELPV arrays to features (`featurize`)"),
    ("dask", "single_process", "`featurize` in one process, every core to one runtime"),
    ("dask", "dask_1_worker", "Dask, 1 single-threaded worker"),
    ("dask", "dask_2_worker", "Dask, 2 single-threaded workers"),
]


def benchmark_table(records: dict[str, dict]) -> str:
    """What | images/s | the ratio the benchmark reports, from ``results/<name>_benchmark.json``."""
    ratios = {
        "pipeline": lambda r: (
            f"{r['pipeline_over_tf_function']:.2f}x `tf.function`, "
            f"{r['pipeline_over_keras_predict']:.2f}x `predict`"
        ),
        "dask_2_worker": lambda r: (
            f"{r['dask_2_over_1_workers']:.2f}x 1 worker, "
            f"{r['dask_2_workers_over_single_process']:.2f}x one process"
        ),
    }
    machine = records.get("featurize", {}).get("machine")
    lines = [
        f"| MobileNetV2 at 224 px, {machine or 'on this machine'} | images/s | measured against |",
        "| --- | --- | --- |",
    ]
    for name, key, label in BENCHMARKS:
        record = records.get(name, {})
        if record.get("machine") != machine:
            label += f" (another run: {record.get('machine', 'machine not recorded')})"
        if key in record.get("images_per_s", {}):
            share = record.get("share_of_peak", {}).get(key)
            against = ", ".join(
                part
                for part in [
                    ratios[key](record) if key in ratios else "",
                    f"{share:.2f} of peak" if share else "",
                ]
                if part
            )
            lines.append(f"| {label} | {record['images_per_s'][key]:.1f} | {against} |")
    return "\n".join(lines)


def _arm(record: dict, which: str) -> str:
    """``commit`` or ``commit with NAME=value``: what one side of a before/after record ran."""
    settings = " ".join(
        f"{name}={value}" for name, value in record.get("environments", {}).get(which, {}).items()
    )
    return f"`{record['commits'][which][:7]}`" + (f" with `{settings}`" if settings else "")


def series_timing_table(record: dict) -> str:
    """Per notebook both sides finished: minutes before and after, their ratio with and without the
    exercise solutions, and the main number of each, from a ``benchmarks/series_before_after.py``
    record."""
    if not record:
        return "Not measured yet: run `python benchmarks/series_before_after.py`."
    lines = [
        f"Before: {_arm(record, 'before')}; after: {_arm(record, 'after')}; "
        f"{record.get('machine', 'machine not recorded')}.",
        "",
        "| notebook | before: min | after: min | before / after | without solutions | main "
        "number: before / after |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    totals = dict.fromkeys(("before", "after", "before_bare", "after_bare"), 0.0)
    for notebook in record.get("summary", {}).get("notebooks", []):
        runs = record["notebooks"][notebook]
        seconds = {which: runs[which]["seconds"] for which in ("before", "after")}
        bare = {
            f"{which}_bare": runs[which]["seconds"] - (runs[which]["solution_seconds"] or 0)
            for which in ("before", "after")
        }
        totals = {key: totals[key] + value for key, value in {**seconds, **bare}.items()}
        values = [
            (runs[which]["results"] or {}).get(MAIN[notebook]) for which in ("before", "after")
        ]
        main = " / ".join(f"{value:.3f}" if value is not None else "-" for value in values)
        lines.append(
            f"| {notebook} | {seconds['before'] / 60:.1f} | {seconds['after'] / 60:.1f} | "
            f"{seconds['before'] / seconds['after']:.2f}x | "
            f"{bare['before_bare'] / bare['after_bare']:.2f}x | `{MAIN[notebook]}` {main} |"
        )
    if totals["after"]:
        lines.append(
            f"| all | {totals['before'] / 60:.1f} | {totals['after'] / 60:.1f} | "
            f"{totals['before'] / totals['after']:.2f}x | "
            f"{totals['before_bare'] / totals['after_bare']:.2f}x | |"
        )
    return "\n".join(lines)


def replace_between(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(
            f"README.md has no <!-- {marker}:start --> ... <!-- {marker}:end --> markers"
        )
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main() -> int:
    run_dir = README.parent / "outputs" / "full"
    if run_dir.exists():
        print(f"copied {len(copy_figures(run_dir))} figures of {run_dir} into docs/figures")
    records = {profile: load_record(f"{profile}_profile") for profile in PROFILES}
    text = README.read_text()
    text = replace_between(text, "results", headline_table(records["full"]))
    text = replace_between(text, "profiles", profile_table(records))
    text = replace_between(text, "figures", figure_gallery())
    benchmarks = {name: load_record(f"{name}_benchmark") for name in ("featurize", "dask")}
    text = replace_between(text, "benchmarks", benchmark_table(benchmarks))
    text = replace_between(text, "series", series_timing_table(load_record("series_before_after")))
    README.write_text(text)
    print(f"rewrote the results tables of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
