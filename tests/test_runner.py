import json

import nbformat
import papermill
import pytest

from helpers.runner import main, notebook_paths, run_series


def write_notebook(path, body):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('OUTPUT_DIR = "unset"\nVALUE = 1')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_code_cell("from helpers.report.results import record_results"),
        parameters,
        nbformat.v4.new_code_cell(body),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


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
    assert [p.name for p in notebook_paths("all", series)] == ["01_first.ipynb", "02_fails.ipynb", "03_never.ipynb"]
    assert [p.name for p in notebook_paths("3,1", series)] == ["01_first.ipynb", "03_never.ipynb"]
    with pytest.raises(SystemExit, match="no notebook numbered 07"):
        notebook_paths("01,07", series)


def test_runs_in_order_stops_at_the_first_failure_and_still_reports(series, tmp_path):
    output = tmp_path / "out"
    with pytest.raises(papermill.PapermillExecutionError, match="deliberate failure"):
        run_series("smoke", "all", output, notebooks_dir=series, overrides={"VALUE": 7})
    assert json.loads((output / "results.json").read_text()) == {"01": {"value": 7}}
    assert "| 01 | value | 7 |" in (output / "report.md").read_text()
    assert (output / "02_fails.ipynb").exists() and not (output / "03_never.ipynb").exists()
    source = nbformat.read(series / "01_first.ipynb", as_version=4)
    assert all(cell.outputs == [] for cell in source.cells)  # the source stays clean


def test_command_line_reports_the_failing_cell(series, tmp_path, capsys):
    arguments = ["--profile", "smoke", "--notebooks", "02", "--output-dir", str(tmp_path / "cli"), "--notebooks-dir", str(series)]
    assert main(arguments) == 1
    assert "RuntimeError: deliberate failure" in capsys.readouterr().err


def test_a_rerun_leaves_no_keys_from_an_older_record(series, tmp_path):
    output = tmp_path / "out"
    (output / "results").mkdir(parents=True)
    (output / "results" / "01.json").write_text('{"renamed_metric": 0.5, "value": 1}')
    (output / "results" / "03.json").write_text('{"value": 3}')  # not rerun: kept
    run_series("smoke", "01", output, notebooks_dir=series, overrides={"VALUE": 7})
    assert json.loads((output / "results.json").read_text()) == {"01": {"value": 7}, "03": {"value": 3}}
