"""The conformance suite (atomr.persistence.tck) on every journal and snapshot
store backend.

It runs on the built-in in-memory and LMDB backends and on a pure-Python
plugin written below against the public plugin API (:class:`Journal`,
:class:`SnapshotStore`), as a user's own backend is checked.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pytest

from atomr.persistence import (
    MAX_SEQUENCE_NR, EventRejectedError, InMemoryJournal, InMemorySnapshotStore, Journal,
    LmdbJournal, LmdbSnapshotStore, PersistentRecord, SnapshotRecord, SnapshotSelectionCriteria,
    SnapshotStore,
)
from atomr.persistence.tck import JournalSpec, SnapshotStoreSpec

# -- a pure-Python plugin backend -------------------------------------------------------


class DictJournal(Journal):
    """A plugin journal on plain dicts, written only against the public API."""

    def __init__(self) -> None:
        self.events: dict[str, dict[int, PersistentRecord]] = {}
        self.highest: dict[str, int] = {}

    async def write_messages(self, batches: Sequence[Sequence[PersistentRecord]]):
        results: list[Optional[BaseException]] = []
        for batch in batches:
            reason = self.validate_records(batch)
            if reason is None and batch:
                reason = self.check_batch(batch, self.highest.get(batch[0].persistence_id, 0))
            if reason is not None:
                results.append(EventRejectedError(reason))
                continue
            for record in batch:
                self.events.setdefault(record.persistence_id, {})[record.sequence_nr] = record
                self.highest[record.persistence_id] = record.sequence_nr
            results.append(None)
        return results

    async def replay_messages(self, persistence_id, from_sequence_nr=1,
                              to_sequence_nr=MAX_SEQUENCE_NR, max=MAX_SEQUENCE_NR):
        stored = self.events.get(persistence_id, {})
        out = [stored[s] for s in sorted(stored) if from_sequence_nr <= s <= to_sequence_nr]
        return out[:max]

    async def read_highest_sequence_nr(self, persistence_id):
        return self.highest.get(persistence_id, 0)

    async def delete_messages_to(self, persistence_id, to_sequence_nr):
        stored = self.events.get(persistence_id, {})
        for s in [s for s in stored if s <= to_sequence_nr]:
            del stored[s]

    async def persistence_ids(self):
        return list(self.highest)


class DictSnapshotStore(SnapshotStore):
    """A plugin snapshot store on a dict."""

    def __init__(self) -> None:
        self.snapshots: dict[tuple[str, int], SnapshotRecord] = {}

    async def save_snapshot(self, snapshot):
        self.snapshots[(snapshot.persistence_id, snapshot.sequence_nr)] = snapshot

    async def load_snapshot(self, persistence_id, criteria=SnapshotSelectionCriteria()):
        hits = [s for (pid, _), s in self.snapshots.items()
                if pid == persistence_id and criteria.matches(s.sequence_nr, s.timestamp_ms)]
        return max(hits, key=lambda s: s.sequence_nr, default=None)

    async def delete_snapshot(self, persistence_id, sequence_nr):
        self.snapshots.pop((persistence_id, sequence_nr), None)

    async def delete_snapshots(self, persistence_id, criteria):
        for key, s in list(self.snapshots.items()):
            if key[0] == persistence_id and criteria.matches(s.sequence_nr, s.timestamp_ms):
                del self.snapshots[key]


# -- the suite on each backend ------------------------------------------------------------------


class TestInMemoryJournal(JournalSpec):
    @pytest.fixture
    def journal(self) -> Journal:
        return InMemoryJournal()


class TestLmdbJournal(JournalSpec):
    @pytest.fixture
    def journal(self, tmp_path) -> Journal:
        return LmdbJournal(tmp_path / "journal", map_size=1 << 20)


class TestPluginJournal(JournalSpec):
    @pytest.fixture
    def journal(self) -> Journal:
        return DictJournal()


class TestInMemorySnapshotStore(SnapshotStoreSpec):
    @pytest.fixture
    def store(self) -> SnapshotStore:
        return InMemorySnapshotStore()


class TestLmdbSnapshotStore(SnapshotStoreSpec):
    @pytest.fixture
    def store(self, tmp_path) -> SnapshotStore:
        return LmdbSnapshotStore(tmp_path / "snapshots", map_size=1 << 20)


class TestPluginSnapshotStore(SnapshotStoreSpec):
    @pytest.fixture
    def store(self) -> SnapshotStore:
        return DictSnapshotStore()

