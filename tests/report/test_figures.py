"""Tests of helpers.report.figures: the layout of the mosaic examples."""

from __future__ import annotations

import numpy as np

from helpers.report.figures import mosaic_examples


def test_mosaic_examples_wrap_into_rows_of_four_with_a_title_each():
    images = np.zeros((6, 48, 48, 3), np.uint8)
    fig = mosaic_examples(images, (3, 3), np.arange(6), [f"m{k}" for k in range(6)])
    shown = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in shown] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert len(fig.axes) == 8 and tuple(fig.get_size_inches()) == (2.9 * 4, 3.2 * 2)
    assert shown[4].get_subplotspec().rowspan.start == 1  # the fifth starts the second row
