"""The tables of README.md and docs/, written from the recorded runs in ``results/``
(``make readme``).

Every number in them comes from ``results/<profile>_profile.json`` and
``results/<name>_benchmark.json``; each table sits between marker comments and is rewritten whole,
so no number there is ever typed by hand. ``render(path)`` is what ``make readme`` writes into a
document; a test checks each equals its file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from helpers.report.records import PROVENANCE, load_profile_record, notebook_results
from helpers.report.results import RECORDED_RESULTS, notebook_seconds, result_key

README = RECORDED_RESULTS.parent / "README.md"
DOCS = README.parent / "docs"
#: the recorded profiles, as columns; full_b91df8b is the last complete full run, of the code before
#: the restructuring
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
    """The README's figures: each notebook's chosen figure of a run, at most ``FIGURE_WIDTH`` pixels
    wide."""
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
    """``results/<name>.json`` (a profile's or a benchmark's record), empty when it was never
    recorded."""
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


#: what each notebook teaches, in a line of the README's table
LEARN = {
    "01": "a frozen `keras.applications` MobileNetV2 as a featurizer, offline ImageNet weights "
    "checked on a cat photo, the linear probe",
    "02": "LightGBM on those features with honest cross-validation, what helps (size, test-time "
    "augmentation, layers), bootstrap intervals, one scikit-learn pipeline",
    "03": "backbone -> GAP -> Dense, the head as a logistic regression, fine-tuning the top blocks "
    "with BatchNorm frozen, callbacks, soft targets, the CPU trick and the GPU path",
    "04": "CAM in a few lines and Grad-CAM with a gradient tape; localization measured without "
    "boxes (mosaics, the pointing game); five poolings of the class map compared over seeds",
    "05": "series as `(samples, time, channels)`, an FCN with GAP against an LSTM and MiniRocket, "
    "BatchNorm on small sets, 1-D CAM, faults found on synthetic telemetry",
    "06": "a planted shortcut found from training CAMs alone, removed by inpainting, trained away "
    "with a CAM penalty, uncertain labels relabeled",
    "07": "the featurizer on a Dask cluster into Parquet, resumable; LightGBM on the cluster; "
    "throughput against workers",
}


def notebook_title(path: Path) -> str:
    """``01 CNN featurization`` from a notebook whose first line is
    ``# 01 · CNN featurization: ...``."""
    import nbformat

    first = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0]
    return first.lstrip("# ").split(":")[0].replace(" · ", " ").strip()


def notebook_table(figures_dir: Path = DOCS / "figures") -> str:
    """Each notebook linked to its source, what it teaches and one figure of its full-profile
    run."""
    from helpers.runner import notebook_paths

    lines = [
        "| notebook | what you learn | one figure of its full-profile run |",
        "| --- | --- | --- |",
    ]
    for path in notebook_paths():
        number = path.name[:2]
        title = notebook_title(path)
        name = FIGURES.get(number)
        figure = f'<img src="docs/figures/{name}" width="{FIGURE_WIDTH // 2}">'
        shown = figure if name and (figures_dir / name).exists() else ""
        link = f"[{title}](notebooks/{path.name})"
        lines.append(f"| {link} | {LEARN.get(number, '')} | {shown} |")
    return "\n".join(lines)


def pooling_table(results: dict[str, dict]) -> str:
    """Notebook 04's pooling study: per head, the pointing game and the mosaic AUC on the test
    mosaics (mean +/- sd over seeds) in each recorded profile but smoke; the chosen head in bold."""
    studies = {
        profile: record["04"]
        for profile, record in results.items()
        if profile != "smoke" and "pooling_heads" in record.get("04", {})
    }
    if not studies:
        return "Not recorded yet: `make record NOTEBOOKS=04`."
    heads = list(dict.fromkeys(h for r in studies.values() for h in r["pooling_heads"].split(", ")))
    lines = [
        "| 04 head | "
        + " | ".join(f"{p}: pointing game / mosaic AUC (seeds)" for p in studies)
        + " |",
        "| --- |" + " --- |" * len(studies),
    ]
    for head in heads:
        cells = []
        for record in studies.values():
            key = f"pooling_{result_key(head)}"
            if f"{key}_pointing_game_mean" not in record:
                cells.append("-")
                continue
            shown = (
                f"{record[f'{key}_pointing_game_mean']:.3f} +/- "
                f"{record[f'{key}_pointing_game_sd']:.3f} / {record[f'{key}_test_auc_mean']:.3f} "
                f"+/- {record[f'{key}_test_auc_sd']:.3f} ({record.get('seeds', '?')})"
            )
            cells.append(f"**{shown}**" if record.get("chosen_head") == head else shown)
        lines.append(f"| {head} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_section(record: dict) -> str:
    """The full profile's headline table and where it was recorded."""
    machines = sorted(
        {stamp.get("machine", "") for stamp in record.get(PROVENANCE, {}).values()} - {""}
    )
    where = f" on {'; '.join(machines)}" if machines else ""
    return (
        f"The full profile{where}, on the shared ELPV split and aeon's BasicMotions and "
        "JapaneseVowels. "
        "Every number was recorded by its notebook into "
        "[results/full_profile.json](results/full_profile.json); the commit of each run is in "
        "[docs/profiles.md](docs/profiles.md).\n\n" + headline_table(notebook_results(record))
    )


def provenance_table(records: dict[str, dict]) -> str:
    """Per recorded profile and notebook: the commit, date, machine and runtime of the run it
    holds."""
    lines = [
        "| profile | notebook | commit | date | machine | runtime |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for profile, record in records.items():
        stamps = record.get(PROVENANCE, {})
        for notebook in notebook_results(record):
            stamp = stamps.get(notebook)
            if stamp is None:
                lines.append(f"| {profile} | {notebook} | not recorded | - | - | - |")
                continue
            cells = [f"`{stamp['commit'][:7]}`", stamp["date"], stamp["machine"], stamp["runtime"]]
            lines.append(f"| {profile} | {notebook} | " + " | ".join(cells) + " |")
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
    """What | images/s | the ratio the benchmark reports, from
    ``results/<name>_benchmark.json``."""
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
    machine = record.get("machine", "machine not recorded")
    lines = [
        f"Before: {_arm(record, 'before')}; after: {_arm(record, 'after')}; {machine}.",
        "",
        "| notebook | before: min | after: min | before / after | without solutions "
        "| main number: before / after |",
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
        ratio = seconds["before"] / seconds["after"]
        lines.append(
            f"| {notebook} | {seconds['before'] / 60:.1f} | {seconds['after'] / 60:.1f} | "
            f"{ratio:.2f}x | {bare['before_bare'] / bare['after_bare']:.2f}x | "
            f"`{MAIN[notebook]}` {main} |"
        )
    if totals["after"]:
        ratio = totals["before"] / totals["after"]
        lines.append(
            f"| all | {totals['before'] / 60:.1f} | {totals['after'] / 60:.1f} | {ratio:.2f}x | "
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


def tables() -> dict[str, str]:
    """Marker name -> the table written between its markers, from the records in ``results/``."""
    records = {profile: load_profile_record(profile) for profile in PROFILES}
    results = {profile: notebook_results(record) for profile, record in records.items()}
    benchmarks = {name: load_record(f"{name}_benchmark") for name in ("featurize", "dask")}
    return {
        "notebooks": notebook_table(),
        "results": results_section(records["full"]),
        "pooling": pooling_table(results),
        "profiles": profile_table(results),
        "provenance": provenance_table({p: r for p, r in records.items() if r}),
        "benchmarks": benchmark_table(benchmarks),
        "series": series_timing_table(load_record("series_before_after")),
    }


#: the documents ``make readme`` writes, and the tables each one holds
DOCUMENTS = {
    README: ("notebooks", "results", "pooling"),
    DOCS / "profiles.md": ("profiles", "provenance"),
    DOCS / "performance.md": ("benchmarks", "series"),
}


def render(path: Path, written: dict[str, str] | None = None) -> str:
    """The text of ``path`` with each of its tables rewritten from the records."""
    written = tables() if written is None else written
    text = path.read_text()
    for marker in DOCUMENTS[path]:
        text = replace_between(text, marker, written[marker])
    return text


def main() -> int:
    run_dir = README.parent / "outputs" / "full"
    if run_dir.exists():
        print(f"copied {len(copy_figures(run_dir))} figures of {run_dir} into docs/figures")
    written = tables()
    for path in DOCUMENTS:
        path.write_text(render(path, written))
        print(f"rewrote the tables of {path.relative_to(README.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
