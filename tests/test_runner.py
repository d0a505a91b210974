import json

import nbformat
import pytest

from helpers.runner import (
    PROFILES,
    REPO_ROOT,
    RunFailed,
    default_output_dir,
    main,
    notebook_paths,
    run_series,
)


def write_notebook(path, body):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('OUTPUT_DIR = "unset"\nVALUE = 1')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from helpers.checks import ParameterError\nfrom helpers.report.results import "
            "record_results"
        ),
        parameters,
        nbformat.v4.new_code_cell(body),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)


def recorded(output) -> dict:
    """The run's results.json without the runner's
    ``run_seconds``, which every notebook run by the runner has."""
    results = json.loads((output / "results.json").read_text())
    for values in results.values():
        if "run_seconds" in values:  # a notebook not rerun keeps its older record as it was
            assert values.pop("run_seconds") > 0
    return results


@pytest.fixture
def series(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_first.ipynb", 'record_results(OUTPUT_DIR, "01", {"value": VALUE})')
    write_notebook(folder / "02_fails.ipynb", 'raise RuntimeError("deliberate failure")')
    write_notebook(folder / "03_never.ipynb", 'record_results(OUTPUT_DIR, "03", {"value": 3})')
    (folder / "scratch.ipynb").write_text("{}")  # not numbered: not part of the series
    return folder


def test_selection_of_notebooks(series):
    assert [p.name for p in notebook_paths("all", series)] == [
        "01_first.ipynb",
        "02_fails.ipynb",
        "03_never.ipynb",
    ]
    assert [p.name for p in notebook_paths("3,1", series)] == ["01_first.ipynb", "03_never.ipynb"]
    with pytest.raises(SystemExit, match="no notebook numbered 07"):
        notebook_paths("01,07", series)


def test_runs_in_order_stops_at_the_first_failure_and_still_reports(series, tmp_path):
    output = tmp_path / "out"
    with pytest.raises(
        RunFailed,
        match=r"02_fails.ipynb stopped in cell \d+: RuntimeError: deliberate failure\n  executed "
        r"notebook: .*02_fails.ipynb",
    ):
        run_series(
            "smoke", "all", output, notebooks_dir=series, overrides={"VALUE": 7}, progress=False
        )
    assert recorded(output) == {"01": {"value": 7}}
    assert "| 01 | value | 7 |" in (output / "report.md").read_text()
    assert (output / "02_fails.ipynb").exists() and not (output / "03_never.ipynb").exists()
    source = nbformat.read(series / "01_first.ipynb", as_version=4)
    assert all(cell.outputs == [] for cell in source.cells)  # the source stays clean


def test_command_line_reports_the_failing_cell(series, tmp_path, capsys):
    arguments = [
        "--profile",
        "smoke",
        "--notebooks",
        "02",
        "--output-dir",
        str(tmp_path / "cli"),
        "--notebooks-dir",
        str(series),
    ]
    assert main(arguments) == 1
    assert "RuntimeError: deliberate failure" in capsys.readouterr().err


def test_a_rerun_leaves_no_keys_from_an_older_record(series, tmp_path):
    output = tmp_path / "out"
    (output / "results").mkdir(parents=True)
    (output / "results" / "01.json").write_text('{"renamed_metric": 0.5, "value": 1}')
    (output / "results" / "03.json").write_text('{"value": 3}')  # not rerun: kept
    run_series("smoke", "01", output, notebooks_dir=series, overrides={"VALUE": 7}, progress=False)
    assert recorded(output) == {"01": {"value": 7}, "03": {"value": 3}}


def test_a_bad_parameter_is_one_sentence_without_frames_or_kernel_logs(series, tmp_path, capsys):
    write_notebook(
        series / "04_checks.ipynb",
        'import sys; print("kernel noise", file=sys.__stderr__)\nraise ParameterError("VALUE = -1 '
        'is not allowed: set VALUE to an integer from 1 up.")',
    )
    arguments = [
        "--profile",
        "smoke",
        "--notebooks",
        "04",
        "--output-dir",
        str(tmp_path / "cli"),
        "--notebooks-dir",
        str(series),
        "--set",
        "VALUE=-1",
    ]
    assert main(arguments) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert (
        lines[0] == "FAILED: 04_checks.ipynb stopped in cell 4: VALUE = -1 is not allowed: "
        "set VALUE to an integer from 1 up."
    )
    assert "Traceback" not in captured.err and "kernel noise" not in captured.err + captured.out
    # kept in the kernel log
    assert "kernel noise" in (tmp_path / "cli" / "logs" / "04_checks.log").read_text()


def test_ctrl_c_leaves_no_half_executed_notebook(series, tmp_path, capsys):
    write_notebook(series / "04_interrupted.ipynb", "raise KeyboardInterrupt")
    arguments = [
        "--profile",
        "smoke",
        "--notebooks",
        "01,04",
        "--output-dir",
        str(tmp_path / "cli"),
        "--notebooks-dir",
        str(series),
    ]
    assert main(arguments) == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "interrupted: finished notebooks and their results are kept; "
        "run the same command again to redo the rest"
    ]
    assert (tmp_path / "cli" / "01_first.ipynb").exists() and not (
        tmp_path / "cli" / "04_interrupted.ipynb"
    ).exists()
    assert recorded(tmp_path / "cli") == {"01": {"value": 1}}


def test_dataset_goes_to_the_image_notebooks_and_names_the_output_folder(series, tmp_path):
    write_notebook(series / "05_series.ipynb", 'record_results(OUTPUT_DIR, "05", {"value": VALUE})')
    for number in ("01", "05"):
        path = series / f"{number}_{'first' if number == '01' else 'series'}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        notebook.cells[1].source += '\nDATASET = "default"'
        notebook.cells[2].source = f'record_results(OUTPUT_DIR, "{number}", {{"dataset": DATASET}})'
        nbformat.write(notebook, path)
    output = run_series(
        "smoke",
        "01,05",
        tmp_path / "out",
        notebooks_dir=series,
        dataset="folder:/data/my images/",
        progress=False,
    )
    assert recorded(output) == {
        "01": {"dataset": "folder:/data/my images/"},
        "05": {"dataset": PROFILES["smoke"]["05"]["DATASET"]},
    }  # 05 keeps its profile's series set
    assert (
        default_output_dir("smoke", "folder:/data/my images/")
        == REPO_ROOT / "outputs" / "my-images-smoke"
    )
    assert default_output_dir("full") == REPO_ROOT / "outputs" / "full"
