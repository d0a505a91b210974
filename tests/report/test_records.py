"""Profile records: one run merged in, stamped with its commit; a record older than its code is
named."""

from __future__ import annotations

from helpers.report import records
from helpers.report.readme import provenance_table

STAMP = {
    "commit": "a" * 40,
    "date": "2026-12-04",
    "machine": "2 CPU cores",
    "runtime": "onnxruntime",
}


def test_a_run_replaces_its_notebooks_and_keeps_the_others_with_their_stamps():
    old = {"01": {"x": 1}, "02": {"y": 2}, records.PROVENANCE: {"01": {"commit": "b" * 40}}}
    merged = records.merge_run(old, {"02": {"y": 3}, "03": {"z": 4}}, STAMP)
    assert list(merged) == ["01", "02", "03", records.PROVENANCE]
    assert merged["01"] == {"x": 1} and merged["02"] == {"y": 3} and merged["03"] == {"z": 4}
    assert merged[records.PROVENANCE] == {"01": {"commit": "b" * 40}, "02": STAMP, "03": STAMP}
    assert records.notebook_results(merged) == {"01": {"x": 1}, "02": {"y": 3}, "03": {"z": 4}}


def test_a_record_of_head_is_fresh_and_one_without_a_commit_is_stale():
    head = records.git("rev-parse", "HEAD")
    record = {"01": {}, "02": {}, "03": {}, records.PROVENANCE: {"01": {"commit": head}, "02": {}}}
    assert records.stale_notebooks(record) == {"02": "names no commit", "03": "no provenance"}


def test_a_record_of_the_first_commit_is_stale_for_a_notebook_changed_since():
    first = records.git("rev-list", "--max-parents=0", "HEAD").splitlines()[0]
    stale = records.stale_notebooks({"01": {}, records.PROVENANCE: {"01": {"commit": first}}})
    assert list(stale) == ["01"] and f"changed since {first[:7]}" in stale["01"]


def test_the_provenance_table_names_commit_date_machine_and_runtime():
    record = {"01": {}, "02": {}, records.PROVENANCE: {"01": STAMP}}
    assert provenance_table({"smoke": record}).splitlines()[2:] == [
        "| smoke | 01 | `aaaaaaa` | 2026-12-04 | 2 CPU cores | onnxruntime |",
        "| smoke | 02 | not recorded | - | - | - |",
    ]
