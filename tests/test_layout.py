"""The project's shape: no import cycles in helpers, short modules
with a purpose, notebooks that read like the Keras examples."""

from __future__ import annotations

import ast
import re
import statistics
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.runner import PROFILES

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "helpers").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: what each notebook's own code must show where the technique is taught
LESSON_LINES = {
    "01": [
        "keras.applications.MobileNetV2",
        "include_top=False",
        ".trainable = False",
        "keras.layers.Normalization",
    ],
    "03": [
        "GlobalAveragePooling2D",
        "keras.layers.Dropout",
        "keras.layers.Dense",
        ".trainable = False",
        "BatchNormalization",
        ".compile(",
        "keras.callbacks.EarlyStopping",
        "keras.callbacks.ModelCheckpoint",
        "keras.callbacks.ReduceLROnPlateau",
    ],
    "04": ["GradientTape", "tape.gradient", "einsum", "dense.kernel"],
    "05": ["Conv1D", "BatchNormalization", "GlobalAveragePooling1D", "LSTM", "Masking"],
    "06": ["GradientTape", "sparse_categorical_crossentropy", "einsum", "penalty"],
}
#: published figures the prose may quote (other papers' results, not measurements of this run)
PUBLISHED = {"82.44", "88.42", "99.3", "37.1", "0.8244", "0.8842"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imported_helpers(path: Path) -> set[str]:
    """Every helpers module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("helpers"))
    known = {module_name(p) for p in MODULES}
    return {name for name in found if name in known}


def test_no_import_cycles_inside_helpers():
    graph = {module_name(path): imported_helpers(path) - {module_name(path)} for path in MODULES}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                pytest.fail(
                    "import cycle: " + " -> ".join(trail[trail.index(nxt) :] + [nxt])
                    if nxt in trail
                    else f"{node} -> {nxt}"
                )
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_the_cycle_check_can_fail(tmp_path, monkeypatch):
    """The check above must see a cycle when there is one."""
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "a.py").write_text('"""A."""\nfrom helpers.b import x\n')
    (tmp_path / "helpers" / "b.py").write_text(
        '"""B."""\n\ndef x():\n    from helpers.a import y\n'
    )
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "ROOT", tmp_path)
    monkeypatch.setattr(this, "MODULES", sorted((tmp_path / "helpers").rglob("*.py")))
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycles_inside_helpers()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_every_module_states_its_purpose_and_stays_short(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    # the purpose is the docstring's first paragraph: one sentence, wrapped at 100 columns
    assert docstring and docstring.split("\n\n")[0].endswith("."), (
        f"{module_name(path)} needs a one-sentence purpose at the top"
    )
    # 320 lines at 150 columns became 500 at 100: ruff format grew the longest modules 1.3-1.5x
    assert len(path.read_text().splitlines()) <= 500, (
        f"{module_name(path)} has grown past 500 lines: split it"
    )


def statement_lines(source: str) -> int:
    """The lines of a cell that start a statement or hold a comment: its length, however wrapped."""
    starts = {node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)}
    comments = {n for n, line in enumerate(source.splitlines(), 1) if line.lstrip().startswith("#")}
    return len(starts | comments)


def test_statement_lines_do_not_count_wrapped_arguments():
    assert statement_lines("# a comment\nx = f(\n    1,\n    2,\n)\nif x:\n    y = 2\n") == 4


def code_cells(path: Path) -> list:
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def parameters_cell(cells: list):
    (parameters,) = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    return parameters


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebooks_are_clean_sources_with_a_literal_parameters_cell(path):
    cells = code_cells(path)
    assert all(not cell.outputs and cell.execution_count is None for cell in cells), (
        "commit notebooks without outputs"
    )
    parameters = parameters_cell(cells)
    assert cells.index(parameters) == 1, "the parameters cell comes right after the imports"
    for statement in ast.parse(parameters.source).body:
        assert isinstance(statement, ast.Assign), (
            f"only assignments in the parameters cell: {ast.unparse(statement)}"
        )
        ast.literal_eval(statement.value)  # raises on anything but a literal
    assert not any("sys.path" in cell.source for cell in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebook_cells_are_short_and_define_only_the_lesson(path):
    cells = [cell for cell in code_cells(path) if "parameters" not in cell.metadata.get("tags", [])]
    lengths = [statement_lines(cell.source) for cell in cells]
    median = statistics.median(lengths)
    assert median <= 8, f"median code cell {median} statements"
    longest = max(zip(lengths, range(len(cells))))
    assert longest[0] <= 25, f"a code cell of {longest[0]} statements: split it"
    screen = max(len(cell.source.splitlines()) for cell in cells)
    assert screen <= 40, f"a code cell of {screen} lines does not fit a screen: split it"
    for cell in cells:
        defines = re.findall(r"^(?:def|class) (\w+)", cell.source, flags=re.M)
        tags = cell.metadata.get("tags", [])
        assert not defines or "lesson" in tags or "solution" in tags, (
            f"{defines} defined outside the lesson: move it to helpers"
        )


@pytest.mark.parametrize("number", sorted(LESSON_LINES))
def test_the_technique_is_written_in_the_notebook(number):
    (path,) = [p for p in NOTEBOOKS if p.name.startswith(number)]
    lesson = "\n".join(
        cell.source for cell in code_cells(path) if "lesson" in cell.metadata.get("tags", [])
    )
    missing = [line for line in LESSON_LINES[number] if line not in lesson]
    assert not missing, f"notebook {number}'s lesson cells do not show {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_prose_carries_no_measured_figure(path):
    notebook = nbformat.read(path, as_version=4)
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    figures = set(re.findall(r"(?<![\w.])\d+\.\d{2,}(?![\w.])", prose)) | set(
        re.findall(r"(?<![\w.])\d+(?:\.\d+)? ?%", prose)
    )
    measured = {f for f in figures if f.rstrip(" %") not in PUBLISHED}
    assert not measured, (
        f"numbers typed into the prose: {sorted(measured)}; print them from the run instead"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_notebook_teaches_times_summarizes_and_ends_with_exercises(path):
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for heading in (
        "What you will learn",
        "How long it takes",
        "## Summary",
        "## Run it on your own data",
        "## Exercises",
    ):
        assert heading in text, f"{path.name} lacks {heading!r}"
    solutions = [cell for cell in notebook.cells if "solution" in cell.metadata.get("tags", [])]
    assert 2 <= len(solutions) <= 4 and all(
        cell.metadata.get("jupyter", {}).get("source_hidden") for cell in solutions
    )
    assert "record.summary(" in "\n".join(
        cell.source for cell in notebook.cells if cell.cell_type == "code"
    )


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_sets_only_parameters_the_notebooks_have(profile):
    """A misspelled profile parameter would run the notebook on its default without a word."""
    defaults = {
        path.name[:2]: {
            statement.targets[0].id: ast.literal_eval(statement.value)
            for statement in ast.parse(parameters_cell(code_cells(path)).source).body
        }
        for path in NOTEBOOKS
    }
    for number, values in PROFILES[profile].items():
        for name, value in values.items():
            assert name in defaults[number], (
                f"{profile} profile: notebook {number} has no parameter {name}"
            )
            default = defaults[number][name]
            expected = (int, float) if isinstance(default, float) else type(default)
            assert default is None or isinstance(value, expected), (
                f"{profile} profile: {number} {name}={value!r}, default {default!r}"
            )
