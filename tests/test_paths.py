"""Files the project writes: atomic writes, one hasher, caches that heal instead of crashing."""

import numpy as np
import pytest

from helpers.paths import CacheWarning, atomic_write_bytes, cached_arrays, file_digests, file_sha256


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "deep" / "file.bin"
    atomic_write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc" and sorted(p.name for p in target.parent.iterdir()) == [
        "file.bin"
    ]


def test_one_hasher_for_every_file():
    import hashlib
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x"
        path.write_bytes(b"x" * 3_000_000)
        assert file_sha256(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
        assert file_digests(path, ("md5",))["md5"] == hashlib.md5(b"x" * 3_000_000).hexdigest()


def heals(path, damage_file) -> None:
    """A cache at ``path`` survives ``damage_file(path)``: named in a warning, recomputed once,
    rewritten whole."""
    calls = []

    def compute():
        calls.append(1)
        return {"X": np.arange(1000.0), "indices": np.arange(3)}

    first, from_cache = cached_arrays(path, compute, ("X", "indices"))
    assert not from_cache and cached_arrays(path, compute, ("X", "indices"))[1] and len(calls) == 1
    damage_file(path)
    with pytest.warns(CacheWarning, match="cache.npz is damaged"):
        again, from_cache = cached_arrays(path, compute, ("X", "indices"))
    assert not from_cache and len(calls) == 2
    np.testing.assert_array_equal(again["X"], first["X"])
    assert cached_arrays(path, compute, ("X", "indices"))[1]  # rewritten whole


def test_cached_arrays_heal_every_kind_of_damage(tmp_path, damaged):
    heals(tmp_path / "cache.npz", lambda path: path.write_bytes(damaged(path.read_bytes())))


@pytest.mark.parametrize(
    "damage_file",
    [
        pytest.param(lambda path: np.savez(path, X=np.arange(3.0)), id="missing array"),
        pytest.param(lambda path: path.write_bytes(b"hello"), id="not a zip"),
    ],
)
def test_cached_arrays_heal_a_file_that_is_not_their_npz(tmp_path, damage_file):
    heals(tmp_path / "cache.npz", damage_file)


def test_a_disabled_cache_writes_nothing(tmp_path):
    arrays, from_cache = cached_arrays(
        tmp_path / "x.npz", lambda: {"a": np.ones(2)}, ("a",), enabled=False
    )
    assert not from_cache and not (tmp_path / "x.npz").exists()
