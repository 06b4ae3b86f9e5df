"""Durable stores: where a replicator keeps its durable keys across restarts
(the LMDB one is in :mod:`atomr.ddata.lmdb`).
"""

from __future__ import annotations

import abc
import base64
import os
import threading
from typing import (
    Any,
    ClassVar,
    Iterator,
    Optional,
    Union,
)

from atomr._util import public_module
from atomr.ddata._wire import _LEN, _check_bytes
from atomr.errors import (
    DurableStoreError,
)

# ---------------------------------------------------------------------------
# Durable stores


@public_module("atomr.ddata")
class DurableStore(abc.ABC):
    """Where a :class:`Replicator` keeps its durable keys across restarts.

    Build with :meth:`noop`, :meth:`file` or :meth:`lmdb`. Values are the
    CRDTs' wire bytes; a deleted key keeps a tombstone, so it stays deleted
    after a restart. ``persist`` returns once the bytes are on disk.
    Implementations are thread-safe.
    """

    kind: ClassVar[str] = "noop"

    # The built-in stores by kind: a store module registers its class with
    # `class X(DurableStore, builtin=True)`, so this module needs no import of
    # the LMDB store (which imports this one).
    _builtins: ClassVar[dict[str, type["DurableStore"]]] = {}

    def __init_subclass__(cls, *, builtin: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if builtin:
            DurableStore._builtins[cls.kind] = cls

    @staticmethod
    def noop() -> "NoopDurableStore":
        """A store that keeps nothing."""
        return NoopDurableStore()

    @staticmethod
    def file(dir_path: Union[str, "os.PathLike[str]"]) -> "FileDurableStore":
        """One file per key in `dir_path` (created when missing)."""
        return FileDurableStore(dir_path)

    @staticmethod
    def lmdb(path: Union[str, "os.PathLike[str]"], map_size: int = 64 * 1024 * 1024) -> Any:
        """An LMDB database file at `path` (inside it when it is a directory)."""
        return DurableStore._builtins["lmdb"](path, map_size=map_size)  # type: ignore[call-arg]

    @property
    def is_durable(self) -> bool:
        """False for the noop store."""
        return True

    @abc.abstractmethod
    def persist(self, key: str, value: bytes) -> None:
        """Stores `value` under `key`; returns once it is on disk."""

    @abc.abstractmethod
    def load(self, key: str) -> Optional[bytes]:
        """The bytes under `key`, or None."""

    @abc.abstractmethod
    def delete_marker(self, key: str) -> None:
        """Forgets `key` (a no-op when absent)."""

    @abc.abstractmethod
    def keys(self) -> list[str]:
        """Every stored key, sorted."""

    def load_all(self) -> dict[str, bytes]:
        """Every (key, bytes)."""
        return {k: v for k in self.keys() if (v := self.load(k)) is not None}

    def contains(self, key: str) -> bool:
        """Whether a value is stored under `key`."""
        return self.load(key) is not None

    def close(self) -> None:
        """Releases the store (idempotent)."""

    def __enter__(self) -> "DurableStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@public_module("atomr.ddata")
class NoopDurableStore(DurableStore):
    """Keeps nothing: every key is lost at restart."""

    kind = "noop"

    @property
    def is_durable(self) -> bool:
        """Always False: nothing is kept."""
        return False

    def persist(self, key: str, value: bytes) -> None:
        """Does nothing (the value is dropped)."""
        pass

    def load(self, key: str) -> Optional[bytes]:
        """Always None."""
        return None

    def delete_marker(self, key: str) -> None:
        """Does nothing."""
        pass

    def keys(self) -> list[str]:
        """Always an empty list."""
        return []

    def __repr__(self) -> str:
        return "DurableStore.noop()"


_FILE_MAGIC = b"ADDF"
_FILE_SUFFIX = ".dd"


@public_module("atomr.ddata")
class FileDurableStore(DurableStore):
    """One file per key in a directory. A write goes to a temporary file
    that is flushed, fsynced and renamed over the key's file (then the
    directory is fsynced), so a crash leaves the old or the new value.

    Args:
        dir_path: The directory (created when missing).

    Raises:
        DurableStoreError: the directory cannot be created.
    """

    kind = "file"

    def __init__(self, dir_path: Union[str, "os.PathLike[str]"]) -> None:
        self._dir = os.path.abspath(os.fspath(dir_path))
        self._lock = threading.Lock()
        try:
            os.makedirs(self._dir, exist_ok=True)
        except OSError as exc:
            raise DurableStoreError(f"file durable store: cannot create {self._dir}: "
                                    f"{exc}") from exc

    @property
    def path(self) -> str:
        """The absolute path of the store's directory."""
        return self._dir

    @staticmethod
    def _raw(key: str) -> bytes:
        if not isinstance(key, str) or not key:
            raise ValueError(f"a durable key must be a non-empty str, got {key!r}")
        return key.encode("utf-8", "surrogatepass")

    def _file(self, raw: bytes) -> str:
        if len(raw) <= 150:
            name = "k-" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        else:
            import hashlib

            name = "h-" + hashlib.sha256(raw).hexdigest()
        return os.path.join(self._dir, name + _FILE_SUFFIX)

    def _read(self, path: str) -> Optional[tuple[bytes, bytes]]:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DurableStoreError(f"file durable store: cannot read {path}: {exc}") from exc
        if len(data) < 8 or data[:4] != _FILE_MAGIC:
            raise DurableStoreError(f"file durable store: {path} is not a durable entry")
        (n,) = _LEN.unpack_from(data, 4)
        if 8 + n > len(data):
            raise DurableStoreError(f"file durable store: {path} is truncated")
        return data[8:8 + n], data[8 + n:]

    def _fsync_dir(self) -> None:
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def persist(self, key: str, value: bytes) -> None:
        """Writes `value` as `key`'s file (atomically, fsynced).

        Raises:
            ValueError: `key` is not a non-empty str.
            TypeError: `value` is not bytes-like.
            DurableStoreError: the file cannot be written.
        """
        raw = self._raw(key)
        value = _check_bytes(value, "a durable value")
        path = self._file(raw)
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with self._lock:
            try:
                with open(tmp, "wb") as f:
                    f.write(_FILE_MAGIC + _LEN.pack(len(raw)) + raw + value)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
                self._fsync_dir()
            except OSError as exc:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise DurableStoreError(f"file durable store: cannot write key {key!r}: "
                                        f"{exc}") from exc

    def load(self, key: str) -> Optional[bytes]:
        """The bytes under `key`, or None when it has no file.

        Raises:
            ValueError: `key` is not a non-empty str.
            DurableStoreError: the file cannot be read, is malformed, or
                holds another key.
        """
        raw = self._raw(key)
        entry = self._read(self._file(raw))
        if entry is None:
            return None
        if entry[0] != raw:
            raise DurableStoreError(f"file durable store: the file of key {key!r} holds "
                                    f"another key")
        return entry[1]

    def delete_marker(self, key: str) -> None:
        """Removes `key`'s file (a no-op when absent).

        Raises:
            DurableStoreError: the file cannot be removed.
        """
        path = self._file(self._raw(key))
        with self._lock:
            try:
                os.unlink(path)
                self._fsync_dir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise DurableStoreError(f"file durable store: cannot delete key {key!r}: "
                                        f"{exc}") from exc

    def _entries(self) -> Iterator[tuple[str, str]]:
        try:
            names = os.listdir(self._dir)
        except OSError as exc:
            raise DurableStoreError(f"file durable store: cannot list {self._dir}: "
                                    f"{exc}") from exc
        for name in names:
            if name.endswith(_FILE_SUFFIX) and name[:2] in ("k-", "h-"):
                yield name, os.path.join(self._dir, name)

    def keys(self) -> list[str]:
        """Every stored key, sorted.

        Raises:
            DurableStoreError: the directory cannot be listed, or an entry
                cannot be read.
        """
        out = []
        for name, path in self._entries():
            if name.startswith("k-"):
                stem = name[2:-len(_FILE_SUFFIX)]
                raw = base64.urlsafe_b64decode(stem + "=" * (-len(stem) % 4))
            else:
                entry = self._read(path)
                if entry is None:
                    continue
                raw = entry[0]
            out.append(raw.decode("utf-8", "surrogatepass"))
        return sorted(out)

    def load_all(self) -> dict[str, bytes]:
        """Every (key, bytes), reading each file once.

        Raises:
            DurableStoreError: the directory cannot be listed, or an entry
                cannot be read or is malformed.
        """
        out = {}
        for _, path in self._entries():
            entry = self._read(path)
            if entry is not None:
                out[entry[0].decode("utf-8", "surrogatepass")] = entry[1]
        return out

    def __repr__(self) -> str:
        return f"DurableStore.file({self._dir!r})"
