import json

import numpy as np
import pytest

from helpers.report.results import (
    Recorder,
    load_results,
    machine_description,
    record_results,
    result_key,
    write_report,
)


def test_records_merge_and_report_lists_every_metric(tmp_path):
    record_results(tmp_path, "01", {"accuracy": np.float32(0.5), "n_images": np.int64(10)})
    record_results(tmp_path, "01", {"accuracy": 0.875})
    record_results(tmp_path, "02", {"auc": 0.9})

    assert load_results(tmp_path) == {"01": {"accuracy": 0.875, "n_images": 10}, "02": {"auc": 0.9}}
    json_path, report_path = write_report(tmp_path, title="Smoke")
    assert json.loads(json_path.read_text())["01"]["n_images"] == 10
    report = report_path.read_text().splitlines()
    assert report[0] == "# Smoke"
    assert "| 01 | accuracy | 0.875 |" in report and "| 02 | auc | 0.9 |" in report


def test_refuses_values_that_are_not_plain_numbers(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        record_results(tmp_path, "01", {"loss": float("nan")})
    with pytest.raises(TypeError, match="list"):
        record_results(tmp_path, "01", {"curve": [1, 2]})
    assert not (tmp_path / "results" / "01.json").exists()


def test_model_path_creates_the_models_folder_of_a_fresh_output_folder(tmp_path):
    path = Recorder(tmp_path / "fresh", "06").model_path("elpv_06_naive.keras")
    assert path == tmp_path / "fresh" / "models" / "elpv_06_naive.keras" and path.parent.is_dir()


def test_machine_description_names_the_cpu_and_its_widest_vectors(monkeypatch):
    monkeypatch.setattr("helpers.models.runtime.default_threads", lambda: 2)
    epyc = (
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: "
        "fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n"
    )
    assert machine_description(epyc) == "2 CPU cores, AMD EPYC, AVX2 (no AVX-512)"
    xeon = "model name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: avx2 avx512f avx512bw\n"
    assert machine_description(xeon) == "2 CPU cores, Intel(R) Xeon(R) Platinum, AVX-512"
    genoa = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n"
    assert machine_description(genoa) == "2 CPU cores, AMD EPYC 9B14, AVX-512 with bf16"


def test_result_key_keeps_letters_and_digits_only():
    assert result_key("LSE r=5") == "lse_r_5"
    assert result_key("top-9 + min") == "top_9_min"
    assert result_key("GAP") == "gap"
