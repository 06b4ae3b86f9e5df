"""The LMDB durable store of distributed data.

One LMDB database file holds every durable key of a replicator; each write
is its own transaction committed with a synchronous flush, so a value is on
disk when ``persist`` returns. The work happens in C++
(``cpp/src/ddata/lmdb_store.cpp``) with the GIL released.

Example:
    >>> store = LmdbDurableStore.tmp()
    >>> store.persist("k", b"v")
    >>> store.load("k")
    b'v'
    >>> store.close()

``RedbDurableStore`` is the same class under the name the original package
used.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional, Union

from atomr._native import _core as _n
from atomr.ddata._durable import DurableStore
from atomr.errors import DurableStoreError

__all__ = ["LmdbDurableStore", "RedbDurableStore"]

#: LMDB's longest key (its default build), in bytes.
MAX_KEY_BYTES = 511


class LmdbDurableStore(DurableStore, builtin=True):
    """An LMDB database file (plus its ``-lock`` file) of key -> bytes.

    Args:
        path: The database file; when `path` is an existing directory, the
            file ``ddata.mdb`` inside it. Missing parent directories are
            created.
        map_size: The initial size of the memory map in bytes; it doubles
            whenever it fills up.

    Raises:
        DurableStoreError: the file cannot be opened, or is already open in
            this process (close the other store first).
    """

    kind = "lmdb"

    def __init__(self, path: Union[str, "os.PathLike[str]"],
                 map_size: int = 64 * 1024 * 1024) -> None:
        path = os.path.abspath(os.fspath(path))
        if os.path.isdir(path):
            path = os.path.join(path, "ddata.mdb")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as exc:
            raise DurableStoreError(f"LMDB durable store: cannot create the directory of "
                                    f"{path}: {exc}") from exc
        self._native = _n.NativeLmdbStore(path, map_size)

    @staticmethod
    def tmp() -> "LmdbDurableStore":
        """A store in a new temporary directory."""
        return LmdbDurableStore(os.path.join(tempfile.mkdtemp(prefix="atomr-ddata-"),
                                             "ddata.mdb"))

    @property
    def path(self) -> str:
        """The database file."""
        return self._native.path

    @staticmethod
    def _raw(key: str) -> bytes:
        if not isinstance(key, str) or not key:
            raise ValueError(f"a durable key must be a non-empty str, got {key!r}")
        raw = key.encode("utf-8", "surrogatepass")
        if len(raw) > MAX_KEY_BYTES:
            raise DurableStoreError(f"LMDB durable store: key {key[:40]!r}... is "
                                    f"{len(raw)} bytes; LMDB keys are at most {MAX_KEY_BYTES}")
        return raw

    def persist(self, key: str, value: bytes) -> None:
        """Stores `value` under `key`; returns once it is flushed to disk."""
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"a durable value must be bytes, not {type(value).__name__}")
        self._native.put(self._raw(key), bytes(value))

    def load(self, key: str) -> Optional[bytes]:
        """The bytes under `key`, or None.

        Raises:
            ValueError: `key` is not a non-empty str.
            DurableStoreError: `key` is longer than :data:`MAX_KEY_BYTES`
                in UTF-8, the store is closed, or LMDB fails.
        """
        return self._native.get(self._raw(key))

    def delete_marker(self, key: str) -> None:
        """Deletes `key` (a no-op when absent); flushed before returning."""
        self._native.erase(self._raw(key))

    def keys(self) -> list[str]:
        """Every stored key, sorted."""
        return sorted(k.decode("utf-8", "surrogatepass") for k in self._native.keys())

    def load_all(self) -> dict[str, bytes]:
        """Every (key, bytes), read in one transaction."""
        return {k.decode("utf-8", "surrogatepass"): v for k, v in self._native.entries()}

    def contains(self, key: str) -> bool:
        """Whether a value is stored under `key`."""
        return self.load(key) is not None

    def close(self) -> None:
        """Closes the database (idempotent); later calls raise DurableStoreError."""
        self._native.close()

    @property
    def is_open(self) -> bool:
        """False once :meth:`close` was called."""
        return bool(self._native.is_open)

    def __repr__(self) -> str:
        return f"DurableStore.lmdb({self.path!r})"


#: The original package's name for the durable store.
RedbDurableStore = LmdbDurableStore
