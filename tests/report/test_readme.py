"""The README's tables and figures are written from recorded results, never typed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers.report import readme


def test_headline_table_shows_recorded_values_and_spreads():
    record = {
        "01": {"linear_probe_accuracy": 0.8512},
        "05": {"fcn_accuracy_basic_motions": 0.95, "fcn_accuracy_std_basic_motions": 0.025},
    }
    lines = readme.headline_table(record).splitlines()
    assert (
        lines[2]
        == "| 01 linear probe: logistic regression on frozen MobileNetV2 features, 224 px | 0.851 |"
    )
    assert lines[3] == "| 05 FCN with GAP, BasicMotions | 0.950 +/- 0.025 |"
    assert len(lines) == 4  # nothing that was not recorded


def test_profile_table_gives_minutes_and_main_number_per_profile():
    records = {
        "smoke": {"01": {"wall_seconds": 90, "linear_probe_accuracy": 0.7}},
        # the runner's time wins
        "full": {"01": {"wall_seconds": 300, "run_seconds": 420, "linear_probe_accuracy": 0.85}},
    }
    lines = readme.profile_table(records).splitlines()
    assert lines[0] == "| notebook | main number | smoke: min / value | full: min / value |"
    assert lines[2] == "| 01 | `linear_probe_accuracy` | 1.5 / 0.700 | 7.0 / 0.850 |"
    assert len(lines) == 3


def test_pooling_table_gives_each_head_over_seeds_with_the_chosen_one_in_bold():
    study = {
        "pooling_heads": "GAP, LSE r=5",
        "chosen_head": "LSE r=5",
        "seeds": 3,
        "pooling_gap_pointing_game_mean": 0.55,
        "pooling_gap_pointing_game_sd": 0.02,
        "pooling_gap_test_auc_mean": 0.781,
        "pooling_gap_test_auc_sd": 0.01,
        "pooling_lse_r_5_pointing_game_mean": 0.6,
        "pooling_lse_r_5_pointing_game_sd": 0.031,
        "pooling_lse_r_5_test_auc_mean": 0.77,
        "pooling_lse_r_5_test_auc_sd": 0.004,
    }
    records = {"smoke": {"04": study}, "workshop": {"04": study}, "full": {"04": {}}}
    lines = readme.pooling_table(records).splitlines()
    assert lines[0] == "| 04 head | workshop: pointing game / mosaic AUC (seeds) |"
    assert lines[2] == "| GAP | 0.550 +/- 0.020 / 0.781 +/- 0.010 (3) |"
    assert lines[3] == "| LSE r=5 | **0.600 +/- 0.031 / 0.770 +/- 0.004 (3)** |"
    assert len(lines) == 4
    assert readme.pooling_table({"full": {"04": {}}}).startswith("Not recorded yet")


def test_benchmark_table_gives_rates_ratios_and_share_of_peak():
    records = {
        "featurize": {
            "machine": "2 CPU cores, AMD EPYC, AVX2 (no AVX-512)",
            "images_per_s": {"tf_function": 51.9, "pipeline": 84.1},
            "pipeline_over_tf_function": 1.62,
            "pipeline_over_keras_predict": 1.934,
            "share_of_peak": {"tf_function": 0.375, "pipeline": 0.608},
        },
        "dask": {
            "images_per_s": {"dask_2_worker": 73.9},
            "dask_2_over_1_workers": 1.775,
            "dask_2_workers_over_single_process": 0.972,
        },
    }
    lines = readme.benchmark_table(records).splitlines()
    assert (
        lines[0] == "| MobileNetV2 at 224 px, 2 CPU cores, AMD EPYC, AVX2 "
        "(no AVX-512) | images/s | measured against |"
    )
    assert lines[2] == "| the `tf.function` forward pass | 51.9 | 0.38 of peak |"
    assert (
        lines[3] == "| the series' pipeline: ELPV arrays to features "
        "(`featurize`) | 84.1 | 1.62x `tf.function`, 1.93x `predict`, 0.61 of peak |"
    )
    assert (
        lines[4]
        == "| Dask, 2 single-threaded workers (another run: machine not recorded) | 73.9 | 1.77x "
        "1 worker, 0.97x one process |"
    )
    assert len(lines) == 5


def test_series_timing_table_compares_the_finished_pairs_with_and_without_solutions():
    def run(seconds, solutions, value):
        return {
            "seconds": seconds,
            "solution_seconds": solutions,
            "returncode": 0,
            "results": {"lgbm_test_accuracy": value},
        }

    record = {
        "commits": {"before": "8307ccb0" * 5, "after": "8307ccb0" * 5},
        "environments": {"before": {"TL_RUNTIME": "tensorflow"}, "after": {}},
        "machine": "2 CPU cores, AMD EPYC, AVX2 (no AVX-512)",
        "notebooks": {
            "02": {"before": run(3000.0, 600.0, 0.878), "after": run(1500.0, 300.0, 0.872)},
            "03": {
                "before": run(600.0, 0.0, None),
                "after": {
                    "seconds": 60.0,
                    "solution_seconds": None,
                    "returncode": 1,
                    "results": None,
                },
            },
        },
        "summary": {"notebooks": ["02"]},
    }
    lines = readme.series_timing_table(record).splitlines()
    assert (
        lines[0] == "Before: `8307ccb` with `TL_RUNTIME=tensorflow`; after: "
        "`8307ccb`; 2 CPU cores, AMD EPYC, AVX2 (no AVX-512)."
    )
    assert lines[4] == "| 02 | 50.0 | 25.0 | 2.00x | 2.00x | `lgbm_test_accuracy` 0.878 / 0.872 |"
    assert lines[5] == "| all | 50.0 | 25.0 | 2.00x | 2.00x | |"
    assert len(lines) == 6  # 03 did not finish on both sides: not compared
    # a before commit without solutions
    record["notebooks"]["02"]["before"]["solution_seconds"] = 0.0
    assert (
        readme.series_timing_table(record).splitlines()[4]
        == "| 02 | 50.0 | 25.0 | 2.00x | 2.50x | `lgbm_test_accuracy` 0.878 / 0.872 |"
    )


def test_replace_between_rewrites_only_the_marked_block():
    text = "a\n<!-- results:start -->\nold\n<!-- results:end -->\nb"
    assert (
        readme.replace_between(text, "results", "new")
        == "a\n<!-- results:start -->\nnew\n<!-- results:end -->\nb"
    )
    with pytest.raises(ValueError, match="figures:start"):
        readme.replace_between(text, "figures", "new")


def test_figures_are_copied_narrow_and_shown_beside_their_notebooks(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "figures").mkdir(parents=True)
    cv2.imwrite(str(run_dir / "figures" / readme.FIGURES["01"]), np.zeros((300, 1280, 3), np.uint8))
    written = readme.copy_figures(run_dir, tmp_path / "docs")
    assert [p.name for p in written] == [readme.FIGURES["01"]]
    assert cv2.imread(str(written[0])).shape == (150, readme.FIGURE_WIDTH, 3)
    lines = readme.notebook_table(tmp_path / "docs").splitlines()
    assert len(lines) == 2 + len(readme.LEARN)
    link = "[01 CNN featurization](notebooks/01_cnn_featurization.ipynb)"
    assert lines[2].startswith(f"| {link} | a frozen")
    assert lines[2].endswith('| <img src="docs/figures/01_embedding.png" width="320"> |')
    assert lines[3].endswith("|  |")  # 02's figure was not copied: no image, no broken link
