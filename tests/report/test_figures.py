"""Tests of helpers.report.figures: the layout of the mosaic examples."""

from __future__ import annotations

import numpy as np

from helpers.report import figures
from helpers.report.figures import mosaic_examples


def test_mosaic_examples_wrap_into_rows_of_four_with_a_title_each():
    images = np.zeros((6, 48, 48, 3), np.uint8)
    fig = mosaic_examples(images, (3, 3), np.arange(6), [f"m{k}" for k in range(6)])
    shown = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in shown] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert len(fig.axes) == 8 and tuple(fig.get_size_inches()) == (2.9 * 4, 3.2 * 2)
    assert shown[4].get_subplotspec().rowspan.start == 1  # the fifth starts the second row


def test_tile_scores_draw_one_annotated_panel_per_entry():
    fig = figures.tile_scores(
        {"before": [0.1, 0.2, 0.3, np.nan], "after": [0.5, 0.5, 0.5, 0.5]}, (2, 2), title="t"
    )
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["before", "after"]
    assert [t.get_text() for t in axes[0].texts] == ["0.10", "0.20", "0.30", "n/a"]
    np.testing.assert_array_equal(axes[1].images[0].get_array(), np.full((2, 2), 0.5))
