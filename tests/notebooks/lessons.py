"""The code a notebook teaches, run outside the notebook:
its imports, its parameters and its cells tagged ``lesson`` (or another tag)."""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def lesson(number: str, tag: str = "lesson", **parameters) -> dict:
    """A namespace holding what notebook ``number``'s cells tagged ``tag`` (``lesson`` or a
    narrower tag) define (functions, models), given ``parameters``."""
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    cells = nbformat.read(path, as_version=4).cells
    code = [cell for cell in cells if cell.cell_type == "code"]
    imports, parameter_cell = (
        code[0],
        next(cell for cell in code if "parameters" in cell.metadata.get("tags", [])),
    )
    namespace: dict = {}
    exec(
        compile(imports.source + "\n" + parameter_cell.source, f"{path.name}:imports", "exec"),
        namespace,
    )
    namespace.update(parameters)
    for cell in code:
        if tag in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{path.name}:lesson", "exec"), namespace)
    return namespace
