"""The site's home page text, read from the source notebooks (no browser needed)."""

from __future__ import annotations

import nbformat

from helpers.report.site import notebook_summary


def test_the_first_learning_goal_is_taken_whole_across_wrapped_lines(tmp_path):
    intro = (
        "# 01 · A title\n\n**What you will learn**\n- to build a featurizer, "
        "and load its\n  weights offline;\n- the second goal\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(intro)])
    nbformat.write(notebook, tmp_path / "01_x.ipynb")
    assert notebook_summary(tmp_path / "01_x.ipynb") == (
        "01 · A title",
        "to build a featurizer, and load its weights offline",
    )
