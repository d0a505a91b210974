"""helpers.data.archives: a data set appears under its
final name only when complete; zips are extracted safely."""

from __future__ import annotations

import zipfile

import pytest

from helpers.data.archives import ArchiveError, extract_zip, staging_dir


def test_staging_dir_renames_on_success_and_cleans_up_on_failure(tmp_path):
    with staging_dir(tmp_path / "ready") as tmp:
        (tmp / "file.txt").write_text("x")
    assert (tmp_path / "ready" / "file.txt").read_text() == "x"
    with pytest.raises(RuntimeError):
        with staging_dir(tmp_path / "broken") as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready"]


def test_extract_zip_refuses_unsafe_paths_and_damaged_archives(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../outside.txt", "x")
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match="unsafe path"):
        extract_zip(evil, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ArchiveError, match="not a valid zip"):
        extract_zip(damaged, tmp_path / "out")
