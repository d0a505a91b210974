"""The site without a browser: its home page text, read from the source notebooks, and the pages
the smoke run's site holds."""

from __future__ import annotations

import nbformat
import pytest

from helpers.report.site import DOC_PAGES, notebook_summary


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


@pytest.mark.notebook
def test_the_site_has_a_home_page_a_page_per_notebook_and_the_docs(smoke_site, smoke_series):
    built = sorted(p.stem for p in smoke_site.glob("[0-9][0-9]_*.html"))
    assert built == sorted(p.stem for p in smoke_series.glob("[0-9][0-9]_*.ipynb"))
    home = (smoke_site / "index.html").read_text()
    assert "what you learn" in home and "minutes (this run, CPU)" in home
    assert "CC BY-NC-SA 4.0" in home
    for name in DOC_PAGES:
        assert (
            f'href="docs/{name}.html"' in home and (smoke_site / "docs" / f"{name}.html").exists()
        )
    # a record a docs page links to is served with it
    performance = (smoke_site / "docs" / "performance.html").read_text()
    assert "featurize_benchmark.json" in performance and "../results/" not in performance
