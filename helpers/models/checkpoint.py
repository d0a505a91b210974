"""Read a legacy (pre-zip) PyTorch checkpoint into numpy
arrays, without torch and without running its code.

The legacy format is a sequence of pickles: a magic number, a protocol version, system info, the
object itself (whose tensors refer to storages by persistent id), the list of storage keys, and then
every storage's raw bytes, each preceded by its element count as an 8-byte little-endian integer.
Every one of the five pickles is read by a restricted unpickler: the header records and the key list
may name no global at all, the state dict only the few a weights file needs, so a planted checkpoint
cannot run code.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a legacy torch checkpoint this reader understands."""


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.data
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.shape,
            strides=tuple(s * itemsize for s in self.stride),
        )
        return np.array(view)  # own the memory, contiguous


@dataclass
class _StorageType:
    name: str


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _TensorRef:
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _PlainUnpickler(pickle.Unpickler):
    """Reads plain data only (numbers, strings, lists,
    dicts): any global or persistent id is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise CheckpointError(
            f"checkpoint record refers to {module}.{name}; a weights file's header names no "
            "code: refusing it"
        )

    def persistent_load(self, saved_id: Any) -> Any:
        raise CheckpointError(
            "checkpoint header refers to a storage: not a legacy torch checkpoint"
        )


class _StateDictUnpickler(_PlainUnpickler):
    """Reads the state dict: an OrderedDict of tensors whose storages are persistent ids."""

    storages: dict[str, _Storage]

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(
            f"checkpoint refers to {module}.{name}, which a weights file should not "
            "need: refusing it"
        )

    def persistent_load(self, saved_id: Any) -> _Storage:
        if (
            not isinstance(saved_id, tuple)
            or len(saved_id) != 6
            or not isinstance(saved_id[1], _StorageType)
        ):
            raise CheckpointError(f"unsupported storage reference {saved_id!r}")
        kind, storage_type, key, _location, numel, view_metadata = saved_id
        if kind != "storage" or view_metadata is not None:
            raise CheckpointError(f"unsupported storage reference {saved_id!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(np.dtype(_STORAGE_DTYPES[storage_type.name]), int(numel))
        return self.storages[key]


def _read_storages(handle: IO[bytes], keys: list[str], storages: dict[str, _Storage]) -> None:
    for key in keys:
        storage = storages[key]
        numel = int.from_bytes(handle.read(8), "little")
        payload = handle.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(payload) != numel * storage.dtype.itemsize:
            raise CheckpointError(f"storage {key} is truncated: the checkpoint file is incomplete")
        storage.data = np.frombuffer(payload, dtype=storage.dtype.newbyteorder("<"))


def load_legacy_state_dict(source: Path | IO[bytes]) -> collections.OrderedDict[str, np.ndarray]:
    """Return the checkpoint's state dict as ``name -> numpy array``, in file order."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            return load_legacy_state_dict(handle)
    try:
        if _PlainUnpickler(source).load() != LEGACY_MAGIC_NUMBER:
            raise CheckpointError("not a legacy torch checkpoint (wrong magic number)")
        _PlainUnpickler(source).load()  # protocol version
        _PlainUnpickler(source).load()  # sys info
        unpickler = _StateDictUnpickler(source)
        unpickler.storages = {}
        state = unpickler.load()
        keys = _PlainUnpickler(source).load()
    except CheckpointError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
    ) as error:
        raise CheckpointError(f"cannot read checkpoint: {error}") from error
    if (
        not isinstance(state, dict)
        or not isinstance(keys, list)
        or not all(isinstance(k, str) and k in unpickler.storages for k in keys)
    ):
        raise CheckpointError(
            "checkpoint is not a state dict of tensors with a matching storage list"
        )
    _read_storages(source, keys, unpickler.storages)
    if not all(isinstance(ref, _TensorRef) for ref in state.values()):
        raise CheckpointError("checkpoint's state dict holds something other than tensors")
    return collections.OrderedDict((name, ref.to_numpy()) for name, ref in state.items())
