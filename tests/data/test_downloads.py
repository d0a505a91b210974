"""helpers.data.downloads against a local HTTP server on 127.0.0.1 (no test touches the
internet)."""

from __future__ import annotations

import hashlib
import json
import socket
from collections import namedtuple
from pathlib import Path

import pytest

from helpers.data import downloads
from helpers.data.downloads import (
    ChecksumMismatchError,
    DiskFullError,
    DownloadError,
    HTMLPageError,
    NetworkUnavailableError,
    NotFoundError,
    Resource,
    download,
)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, not HTML, with every byte value
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Quota exceeded</title></head><body>Too many "
    b"requests</body></html>\n"
)


FAST = {"retries": 0, "backoff": 0.0, "timeout": 10.0, "progress": False}


def resource_for(server, path: str, body: bytes, **overrides) -> Resource:
    server.routes[path] = body
    fields = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(), **overrides}
    return Resource(server.url(path), Path(path).name, **fields)


def test_download_streams_verifies_and_renames(server, tmp_path):
    resource = resource_for(server, "/data.bin", PAYLOAD, md5=hashlib.md5(PAYLOAD).hexdigest())
    path = download(resource, tmp_path, **FAST)
    assert path == tmp_path / "data.bin"
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]  # no .part left
    assert server.requests_to("/data.bin") == [None]


def test_empty_file(server, tmp_path):
    assert download(resource_for(server, "/empty.txt", b""), tmp_path, **FAST).read_bytes() == b""


def test_second_download_is_a_no_op(server, tmp_path):
    resource = resource_for(server, "/data.bin", PAYLOAD)
    download(resource, tmp_path, **FAST)
    mtime = (tmp_path / "data.bin").stat().st_mtime_ns
    download(resource, tmp_path, **FAST)
    assert len(server.requests_to("/data.bin")) == 1
    assert (tmp_path / "data.bin").stat().st_mtime_ns == mtime


def test_cut_connection_leaves_a_part_that_the_next_run_resumes(server, tmp_path):
    resource = resource_for(server, "/big.bin", PAYLOAD)
    server.cuts["/big.bin"] = 1
    with pytest.raises(DownloadError, match="closed after 524,288 of 1,048,576 bytes"):
        download(resource, tmp_path, **FAST)
    part = tmp_path / "big.bin.part"
    assert part.stat().st_size == len(PAYLOAD) // 2
    assert not (tmp_path / "big.bin").exists()

    path = download(resource, tmp_path, **FAST)
    assert path.read_bytes() == PAYLOAD
    assert not part.exists()
    assert server.requests_to("/big.bin") == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_retries_resume_within_one_call(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(downloads.time, "sleep", sleeps.append)
    resource = resource_for(server, "/big.bin", PAYLOAD)
    server.cuts["/big.bin"] = 2
    path = download(resource, tmp_path, retries=3, backoff=0.5, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.requests_to("/big.bin") == [None, "bytes=524288-", "bytes=786432-"]
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    resource = resource_for(server, "/big.bin", PAYLOAD)
    server.cuts["/big.bin"] = 1
    server.ranges = False
    path = download(resource, tmp_path, **{**FAST, "retries": 1})
    assert path.read_bytes() == PAYLOAD


def test_transient_http_errors_are_retried(server, tmp_path, monkeypatch):
    monkeypatch.setattr(downloads.time, "sleep", lambda s: None)
    resource = resource_for(server, "/data.bin", PAYLOAD)
    server.statuses["/data.bin"] = [503, 429]
    assert download(resource, tmp_path, **{**FAST, "retries": 2}).read_bytes() == PAYLOAD


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    resource = resource_for(server, "/data.bin", PAYLOAD, sha256="0" * 64)
    with pytest.raises(ChecksumMismatchError, match="does not match the published") as caught:
        download(resource, tmp_path, **FAST)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_md5_mismatch_and_size_mismatch_are_caught(server, tmp_path):
    with pytest.raises(ChecksumMismatchError, match="md5"):
        download(
            resource_for(server, "/a.bin", PAYLOAD, sha256=None, md5="f" * 32), tmp_path, **FAST
        )
    with pytest.raises(ChecksumMismatchError, match="expected 1,048,577"):
        download(
            resource_for(server, "/b.bin", PAYLOAD, size=len(PAYLOAD) + 1, sha256=None),
            tmp_path,
            **FAST,
        )
    assert list(tmp_path.iterdir()) == []


def test_html_page_instead_of_archive(server, tmp_path):
    resource = resource_for(server, "/EuroSAT.zip", HTML_PAGE, size=None, sha256=None)
    server.content_types["/EuroSAT.zip"] = "text/html; charset=utf-8"
    with pytest.raises(HTMLPageError, match="sent an HTML page instead of EuroSAT.zip"):
        download(resource, tmp_path, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_html_page_is_recognised_by_content_even_when_labelled_binary(server, tmp_path):
    resource = resource_for(
        server, "/file.npz", b"  \n<html><body>Please log in</body></html>", size=None, sha256=None
    )
    with pytest.raises(HTMLPageError):
        download(resource, tmp_path, **FAST)


def test_404_is_one_clear_line(server, tmp_path):
    resource = Resource(server.url("/missing.zip"), "missing.zip", size=10)
    with pytest.raises(NotFoundError, match=r"HTTP 404 Not Found: .*/missing.zip") as caught:
        download(resource, tmp_path, **FAST)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_mirror_is_used_when_the_main_address_fails(server, tmp_path):
    resource = resource_for(server, "/mirror/data.bin", PAYLOAD)
    resource = Resource(
        server.url("/gone/data.bin"),
        "data.bin",
        resource.size,
        resource.sha256,
        mirrors=(resource.url,),
    )
    assert download(resource, tmp_path, **FAST).read_bytes() == PAYLOAD
    assert server.requests_to("/gone/data.bin") == [None]


def test_no_network_is_one_clear_line(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resource = Resource(f"http://127.0.0.1:{port}/data.zip", "data.zip", size=10)
    with pytest.raises(
        NetworkUnavailableError, match=f"no network: cannot reach 127.0.0.1:{port}"
    ) as caught:
        download(resource, tmp_path, **{**FAST, "retries": 1})
    assert "\n" not in str(caught.value)


def test_disk_full_is_detected_before_writing(server, tmp_path, monkeypatch):
    resource = resource_for(server, "/data.bin", PAYLOAD)
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(
        downloads.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000)
    )
    with pytest.raises(
        DiskFullError, match=r"disk full: data.bin needs 1.0 MB but .* has 1.0 kB free"
    ):
        download(resource, tmp_path, **FAST)
    assert not (tmp_path / "data.bin").exists()


def test_disk_full_while_writing(server, tmp_path, monkeypatch):
    resource = resource_for(server, "/data.bin", PAYLOAD)
    real_open = open

    class FullFile:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(
        downloads,
        "open",
        lambda path, mode="r", *a, **k: FullFile(real_open(path, mode, *a, **k)),
        raising=False,
    )
    with pytest.raises(DiskFullError, match="disk full while writing"):
        download(resource, tmp_path, **FAST)


def test_unpublished_checksum_is_recorded_then_verified(server, tmp_path):
    known = tmp_path / "checksums.json"
    resource = resource_for(server, "/har.zip", PAYLOAD, size=None, sha256=None)
    download(resource, tmp_path / "a", known_checksums=known, **FAST)
    record = json.loads(known.read_text())["har.zip"]
    assert record["sha256"] == hashlib.sha256(PAYLOAD).hexdigest() and record["size"] == len(
        PAYLOAD
    )

    server.routes["/har.zip"] = PAYLOAD[::-1]  # the server now sends other bytes
    with pytest.raises(ChecksumMismatchError, match="recorded on first download"):
        download(resource, tmp_path / "b", known_checksums=known, **FAST)
    assert list((tmp_path / "b").iterdir()) == []


def test_human_size():
    assert downloads.human_size(94280567) == "94.3 MB"
    assert downloads.human_size(999) == "999 B"
    assert downloads.human_size(2067725275) == "2.1 GB"


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"file.bin": "no fields"}'])
def test_a_damaged_checksum_record_is_named_removed_and_recorded_afresh(server, tmp_path, damage):
    from helpers.paths import CacheWarning

    record = tmp_path / "checksums.json"
    record.write_bytes(damage)
    resource = resource_for(server, "/file.bin", PAYLOAD, size=None, sha256=None)
    with pytest.warns(CacheWarning, match="checksum record .*checksums.json is damaged"):
        download(resource, tmp_path / "d", known_checksums=record, **FAST)
    assert (
        json.loads(record.read_text())["file.bin"]["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    )
