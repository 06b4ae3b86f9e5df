"""The durable LMDB journal and snapshot store.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from atomr._native._core import _NativeJournal, _NativeSnapshotStore
from atomr._native._core import lmdb_map_size as _lmdb_map_size
from atomr._util import public_module
from atomr.persistence._native import _NativeBackedJournal, _NativeBackedSnapshotStore
from atomr.persistence._records import _DEFAULT_MAP_SIZE, _DEFAULT_MAX_MAP_SIZE


def _lmdb_args(path: Any, map_size: int, max_map_size: int, sync: bool) -> tuple:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, not {type(path).__name__}")
    path = os.fspath(path)
    if not path:
        raise ValueError("the LMDB path must not be empty")
    for name, value in (("map_size", map_size), ("max_map_size", max_map_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 65536:
            raise ValueError(f"{name} must be an int of at least 65536 bytes, got {value!r}")
    return path, map_size, max(map_size, max_map_size), bool(sync)


@public_module("atomr.persistence")
class LmdbJournal(_NativeBackedJournal):
    """A durable journal in an LMDB environment (a directory).

    Every acknowledged write has been committed and, with ``sync=True`` (the
    default), fsynced: it survives a crash of the process or the machine.
    Writes of concurrent actors are committed together in one transaction
    (group commit). When the memory map fills up it doubles, up to
    `max_map_size`; a write that still does not fit fails with
    :class:`JournalError`. Journals and snapshot stores of one process that
    name the same directory share one environment.

    Damage is reported, never read as data: opening checks the data file
    against LMDB's meta pages and the pages of its trees (a truncated file,
    a garbage page or an empty ``data.mdb`` raise :class:`JournalError`;
    LMDB writes its meta pages when it creates the file, so an empty one
    lost what it held and is not taken for a new journal). Each record
    carries a CRC-32C checksum (records of older versions, without one,
    still read), and a replay checks that the events from the first one
    kept to the highest sequence number are all there, one after another;
    recovery fails with :class:`JournalError` and stops the actor otherwise.

    Args:
        path: The directory (created when missing).
        map_size: The initial map size in bytes.
        max_map_size: The largest the map may grow to, in bytes.
        sync: fsync each commit. ``False`` is faster, but the last commits
            may be lost if the machine (not just the process) crashes.

    Raises:
        JournalError: the environment cannot be opened, or its file is
            damaged.
    """

    _snapshots: Optional["LmdbSnapshotStore"] = None

    def __init__(self, path: Any, *, map_size: int = _DEFAULT_MAP_SIZE,
                 max_map_size: int = _DEFAULT_MAX_MAP_SIZE, sync: bool = True) -> None:
        self.path, *rest = _lmdb_args(path, map_size, max_map_size, sync)
        self._options = dict(map_size=rest[0], max_map_size=rest[1], sync=rest[2])
        self._native = _NativeJournal.lmdb(self.path, *rest)

    def snapshot_store(self) -> "LmdbSnapshotStore":
        """An :class:`LmdbSnapshotStore` on this journal's directory, with its
        map size and sync settings (made on first use, then the same object
        every time)."""
        if self._snapshots is None:
            self._snapshots = LmdbSnapshotStore(self.path, **self._options)
        return self._snapshots

    @property
    def map_size(self) -> int:
        """The current size of the memory map, in bytes."""
        return _lmdb_map_size(self.path)

    def __repr__(self) -> str:
        return f"<LmdbJournal path={self.path!r}>"


@public_module("atomr.persistence")
class LmdbSnapshotStore(_NativeBackedSnapshotStore):
    """A durable snapshot store in an LMDB environment (see :class:`LmdbJournal`
    for the arguments; a journal and a store on one directory share it)."""

    def __init__(self, path: Any, *, map_size: int = _DEFAULT_MAP_SIZE,
                 max_map_size: int = _DEFAULT_MAX_MAP_SIZE, sync: bool = True) -> None:
        self.path, *rest = _lmdb_args(path, map_size, max_map_size, sync)
        self._native = _NativeSnapshotStore.lmdb(self.path, *rest)

    def __repr__(self) -> str:
        return f"<LmdbSnapshotStore path={self.path!r}>"


# -- recovery permits ------------------------------------------------------------------
