"""The in-memory journal and snapshot store (the defaults).
"""

from __future__ import annotations

from typing import Optional

from atomr._native._core import _NativeJournal, _NativeSnapshotStore
from atomr._util import public_module
from atomr.persistence._native import _NativeBackedJournal, _NativeBackedSnapshotStore


@public_module("atomr.persistence")
class InMemoryJournal(_NativeBackedJournal):
    """A journal in this process's memory (C++). Nothing survives the process.

    Example:
        >>> j = InMemoryJournal()
        >>> j.write("counter-1", 1, b"\\x01")
        >>> j.highest_sequence_nr("counter-1")
        1
    """

    _snapshots: Optional["InMemorySnapshotStore"] = None

    def __init__(self) -> None:
        self._native = _NativeJournal.in_memory()

    def snapshot_store(self) -> "InMemorySnapshotStore":
        """This journal's in-memory snapshot store (made on first use, then
        the same object every time)."""
        if self._snapshots is None:
            self._snapshots = InMemorySnapshotStore()
        return self._snapshots

    def __repr__(self) -> str:
        return "<InMemoryJournal>"


@public_module("atomr.persistence")
class InMemorySnapshotStore(_NativeBackedSnapshotStore):
    """A snapshot store in this process's memory (C++)."""

    def __init__(self) -> None:
        self._native = _NativeSnapshotStore.in_memory()

    def __repr__(self) -> str:
        return "<InMemorySnapshotStore>"
