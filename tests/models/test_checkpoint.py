import collections
import pickle
import sys
import types

import numpy as np
import pytest

from helpers.models.checkpoint import LEGACY_MAGIC_NUMBER, CheckpointError, load_legacy_state_dict


class _FakeStorage:
    def __init__(self, key, values):
        self.key, self.values = key, np.asarray(values)


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of a 'torch' module for pickle to write legacy checkpoints by reference."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # only referenced by name in the pickle
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


def write_legacy(path, state, storages, torch):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                kind = torch.FloatStorage if obj.values.dtype == np.float32 else torch.LongStorage
                return ("storage", kind, obj.key, "cpu", obj.values.size, None)
            return None

    with open(path, "wb") as handle:
        for header in (LEGACY_MAGIC_NUMBER, 1001, {"little_endian": True}):
            pickle.dump(header, handle, protocol=2)
        Pickler(handle, protocol=2).dump(state)
        pickle.dump([s.key for s in storages], handle, protocol=2)
        for storage in storages:
            handle.write(storage.values.size.to_bytes(8, "little"))
            handle.write(storage.values.astype(storage.values.dtype.newbyteorder("<")).tobytes())


def test_reads_tensors_with_offsets_strides_and_dtypes(tmp_path, fake_torch):
    weights = _FakeStorage("0", np.arange(12, dtype=np.float32))
    counter = _FakeStorage("1", np.array([7], dtype=np.int64))
    state = collections.OrderedDict(
        [
            ("conv.weight", _Tensor(weights, 0, (2, 3), (3, 1))),
            ("conv.weight_t", _Tensor(weights, 0, (3, 2), (1, 3))),  # a transposed view
            ("bias", _Tensor(weights, 6, (6,), (1,))),  # a view at an offset of the same storage
            ("bn.num_batches_tracked", _Tensor(counter, 0, (), ())),
        ]
    )
    path = tmp_path / "legacy.pth"
    write_legacy(path, state, [weights, counter], fake_torch)

    loaded = load_legacy_state_dict(path)

    assert list(loaded) == ["conv.weight", "conv.weight_t", "bias", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(
        loaded["conv.weight"], np.arange(6, dtype=np.float32).reshape(2, 3)
    )
    np.testing.assert_array_equal(
        loaded["conv.weight_t"], np.arange(6, dtype=np.float32).reshape(2, 3).T
    )
    np.testing.assert_array_equal(loaded["bias"], np.arange(6, 12, dtype=np.float32))
    assert (
        loaded["bn.num_batches_tracked"].dtype == np.int64 and loaded["bn.num_batches_tracked"] == 7
    )


@pytest.mark.parametrize(
    "damaged, message",
    [
        ("truncated", "storage 0 is truncated: the checkpoint file is incomplete"),
        ("empty", "cannot read checkpoint"),
    ],
    indirect=["damaged"],
    ids=["truncated", "empty"],
)
def test_a_truncated_or_empty_file_is_reported(tmp_path, fake_torch, damaged, message):
    """A bit flip has no checksum to catch here: the weights' sha256 is checked by the caller."""
    weights = _FakeStorage("0", np.arange(12, dtype=np.float32))
    path = tmp_path / "cut.pth"
    write_legacy(
        path, collections.OrderedDict(w=_Tensor(weights, 0, (12,), (1,))), [weights], fake_torch
    )
    payload = path.read_bytes()
    path.write_bytes(damaged(payload, at=len(payload) - 8))  # the last storage loses 2 floats
    with pytest.raises(CheckpointError, match=message):
        load_legacy_state_dict(path)


def test_refuses_globals_a_weights_file_does_not_need(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        for header in (LEGACY_MAGIC_NUMBER, 1001, {}):
            pickle.dump(header, handle, protocol=2)
        handle.write(b"cos\nsystem\n(S'echo owned'\ntR.")  # os.system('echo owned')
    with pytest.raises(CheckpointError, match="os.system"):
        load_legacy_state_dict(path)


def test_rejects_files_that_are_not_legacy_checkpoints(tmp_path):
    path = tmp_path / "other.pth"
    path.write_bytes(pickle.dumps(42))
    with pytest.raises(CheckpointError, match="magic number"):
        load_legacy_state_dict(path)


class _Planted:
    """Unpickling this runs ``os.system``: it touches ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize(
    "record", ["magic number", "protocol version", "sys info", "state dict", "storage keys"]
)
def test_a_payload_planted_in_any_record_is_refused_before_it_runs(tmp_path, fake_torch, record):
    marker = tmp_path / "payload-ran"
    weights = _FakeStorage("0", np.arange(4, dtype=np.float32))
    records = {
        "magic number": LEGACY_MAGIC_NUMBER,
        "protocol version": 1001,
        "sys info": {"little_endian": True},
    }
    path = tmp_path / "planted.pth"

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return (
                ("storage", fake_torch.FloatStorage, obj.key, "cpu", obj.values.size, None)
                if isinstance(obj, _FakeStorage)
                else None
            )

    with open(path, "wb") as handle:
        for name, value in records.items():
            pickle.dump(_Planted(marker) if name == record else value, handle, protocol=2)
        state = collections.OrderedDict(w=_Tensor(weights, 0, (4,), (1,)))
        Pickler(handle, protocol=2).dump(
            {"w": _Planted(marker)} if record == "state dict" else state
        )
        pickle.dump([_Planted(marker)] if record == "storage keys" else ["0"], handle, protocol=2)
        handle.write((4).to_bytes(8, "little") + weights.values.tobytes())
    with pytest.raises(CheckpointError, match=r"posix\.system.*refusing it"):
        load_legacy_state_dict(path)
    assert not marker.exists()  # the payload never ran
