"""The in-memory journal and snapshot store (the defaults).
"""

from __future__ import annotations

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

    def __init__(self) -> None:
        self._native = _NativeJournal.in_memory()

    def __repr__(self) -> str:
        return "<InMemoryJournal>"


@public_module("atomr.persistence")
class InMemorySnapshotStore(_NativeBackedSnapshotStore):
    """A snapshot store in this process's memory (C++)."""

    def __init__(self) -> None:
        self._native = _NativeSnapshotStore.in_memory()

    def __repr__(self) -> str:
        return "<InMemorySnapshotStore>"
