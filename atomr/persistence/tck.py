"""The persistence TCK: conformance tests for journal and snapshot store plugins.

Every backend that plugs into :mod:`atomr.persistence` -- the built-in ones
and yours -- should pass these checks. Subclass :class:`JournalSpec` (and
:class:`SnapshotStoreSpec`) in a pytest test module and override the fixture
that builds a fresh, empty backend; pytest collects the inherited tests::

    import pytest
    from atomr.persistence.tck import JournalSpec, SnapshotStoreSpec

    class TestSqliteJournal(JournalSpec):
        @pytest.fixture
        def journal(self, tmp_path):
            return SqliteJournal(tmp_path / "journal.db")

    class TestSqliteSnapshotStore(SnapshotStoreSpec):
        @pytest.fixture
        def store(self, tmp_path):
            return SqliteSnapshotStore(tmp_path / "snapshots.db")

The tests are coroutines: they need pytest-asyncio (they carry its
``asyncio`` marker, so its strict mode runs them too). Importing this module
imports pytest; importing :mod:`atomr.persistence` does not.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Optional

import pytest

from atomr.errors import EventRejectedError
from atomr.persistence._records import (
    MAX_SEQUENCE_NR,
    PersistentRecord,
    SnapshotRecord,
    SnapshotSelectionCriteria,
)
from atomr.persistence._store import Journal, SnapshotStore

__all__ = ["JournalSpec", "SnapshotStoreSpec"]


def _rec(pid: str, seq: int, payload: Optional[bytes] = None, tags=()) -> PersistentRecord:
    return PersistentRecord(pid, seq, "test.Event", payload if payload is not None
                            else f"{pid}-{seq}".encode(), 1_000 + seq, tuple(tags))


def _batch(pid: str, first: int, last: int) -> list[PersistentRecord]:
    return [_rec(pid, s) for s in range(first, last + 1)]


async def _write_ok(journal: Journal, *batches: list[PersistentRecord]) -> None:
    assert await journal.write_messages(list(batches)) == [None] * len(batches)


async def _seqs(journal: Journal, pid: str, *args: int) -> list[int]:
    return [r.sequence_nr for r in await journal.replay_messages(pid, *args)]


def _snap(pid: str, seq: int, ts: int, payload: bytes = b"state") -> SnapshotRecord:
    return SnapshotRecord(pid, seq, ts, "test.State", payload)


@pytest.mark.asyncio
class JournalSpec:
    """The checks every :class:`~atomr.persistence.Journal` passes.

    Subclass it (name the subclass ``Test...``) and override the
    :meth:`journal` fixture to return a new, empty journal for each test.

    Attributes:
        supports_persistence_ids: Whether the journal implements the
            optional :meth:`~atomr.persistence.Journal.persistence_ids`;
            set it to False to skip that check.
        concurrent_writers: How many writers
            :meth:`test_many_concurrent_writers_each_get_their_own_result`
            runs at the same time.
    """

    supports_persistence_ids: ClassVar[bool] = True
    concurrent_writers: ClassVar[int] = 40

    @pytest.fixture
    def journal(self) -> Journal:
        """A new, empty journal. Override this fixture (it may take other
        fixtures, such as ``tmp_path``)."""
        pytest.fail(f"{type(self).__name__} must override the `journal` fixture")

    async def test_replay_returns_the_records_exactly_as_written(self, journal: Journal) -> None:
        """Payloads (any bytes), manifests, timestamps and tags come back unchanged."""
        records = [_rec("a", 1, b"\x00\xffbinary", tags=("t",)), _rec("a", 2, b"")]
        await _write_ok(journal, records)
        assert await journal.replay_messages("a") == records

    async def test_replay_honours_lower_and_upper_bounds_and_max(self, journal: Journal) -> None:
        """Replays are in order within inclusive bounds, at most `max` records."""
        await _write_ok(journal, _batch("a", 1, 10))
        assert await _seqs(journal, "a", 3) == list(range(3, 11))
        assert await _seqs(journal, "a", 1, 4) == [1, 2, 3, 4]
        assert await _seqs(journal, "a", 2, 9, 3) == [2, 3, 4]
        assert await _seqs(journal, "a", 5, 5) == [5]
        assert await _seqs(journal, "a", 1, MAX_SEQUENCE_NR, 0) == []
        assert await _seqs(journal, "a", 7, 3) == []
        assert await _seqs(journal, "a", 11) == []

    async def test_replay_of_an_unknown_id_is_empty_and_its_highest_is_zero(
            self, journal: Journal) -> None:
        """An id never written has no records and highest sequence number 0."""
        await _write_ok(journal, _batch("a", 1, 2))
        assert await journal.replay_messages("nobody") == []
        assert await journal.read_highest_sequence_nr("nobody") == 0

    async def test_entities_with_similar_ids_are_kept_apart(self, journal: Journal) -> None:
        """Ids that are prefixes of each other do not share records."""
        await _write_ok(journal, _batch("a", 1, 3), _batch("ab", 1, 2), _batch("b", 1, 1))
        assert await _seqs(journal, "a") == [1, 2, 3]
        assert await _seqs(journal, "ab") == [1, 2]
        assert await journal.read_highest_sequence_nr("b") == 1
        if self.supports_persistence_ids:
            assert sorted(await journal.persistence_ids()) == ["a", "ab", "b"]

    async def test_highest_sequence_nr_never_decreases_also_after_deletes(
            self, journal: Journal) -> None:
        """Deleting records keeps the highest sequence number; numbering goes on."""
        await _write_ok(journal, _batch("a", 1, 4))
        assert await journal.read_highest_sequence_nr("a") == 4
        await journal.delete_messages_to("a", 4)
        assert await journal.read_highest_sequence_nr("a") == 4
        assert await _seqs(journal, "a") == []
        await _write_ok(journal, _batch("a", 5, 6))
        assert await journal.read_highest_sequence_nr("a") == 6
        assert await _seqs(journal, "a") == [5, 6]

    async def test_delete_to_removes_a_prefix_only(self, journal: Journal) -> None:
        """``delete_messages_to`` removes records up to a number, of one id only."""
        await _write_ok(journal, _batch("a", 1, 6), _batch("b", 1, 2))
        await journal.delete_messages_to("a", 3)
        assert await _seqs(journal, "a") == [4, 5, 6]
        assert await _seqs(journal, "a", 1, 4) == [4]
        await journal.delete_messages_to("a", 2)
        assert await _seqs(journal, "a") == [4, 5, 6]
        await journal.delete_messages_to("a", 100)
        assert await _seqs(journal, "a") == []
        assert await _seqs(journal, "b") == [1, 2]
        await journal.delete_messages_to("unknown", 5)
        assert await journal.read_highest_sequence_nr("unknown") == 0

    async def test_a_batch_is_written_wholly_or_not_at_all(self, journal: Journal) -> None:
        """A batch with a gap, two ids or a taken number is rejected and
        nothing of it is stored; the other batches of the call are written."""
        await _write_ok(journal, _batch("a", 1, 2))
        gap = _batch("a", 3, 5)
        gap[2] = _rec("a", 9)
        mixed = [_rec("a", 3), _rec("b", 4)]
        results = await journal.write_messages([gap, mixed, _batch("a", 3, 4), _batch("a", 1, 1)])
        assert len(results) == 4
        assert isinstance(results[0], EventRejectedError)
        assert isinstance(results[1], EventRejectedError)
        assert results[2] is None
        assert isinstance(results[3], EventRejectedError)  # a number taken already
        assert await _seqs(journal, "a") == [1, 2, 3, 4]
        assert await _seqs(journal, "b") == []

    async def test_numbering_starts_at_one_and_empty_ids_are_rejected(
            self, journal: Journal) -> None:
        """The first record of an id is number 1; an empty id is refused."""
        results = await journal.write_messages([_batch("a", 2, 3), [_rec("", 1)]])
        assert all(isinstance(r, EventRejectedError) for r in results)
        assert await journal.read_highest_sequence_nr("a") == 0

    async def test_an_unencodable_event_is_rejected_and_the_journal_stays_usable(
            self, journal: Journal) -> None:
        """A payload that is not bytes rejects its batch (saying so), not the journal."""
        unencodable = PersistentRecord("a", 3, "builtins.object", object())  # type: ignore[arg-type]
        results = await journal.write_messages([_batch("a", 1, 2), [_rec("b", 1), unencodable]])
        assert results[0] is None
        assert isinstance(results[1], EventRejectedError)
        assert "bytes" in str(results[1])
        assert await _seqs(journal, "b") == []
        await _write_ok(journal, _batch("a", 3, 3))
        assert await _seqs(journal, "a") == [1, 2, 3]

    async def test_many_concurrent_writers_each_get_their_own_result(
            self, journal: Journal) -> None:
        """Concurrent writers (as with group commit) each get their own outcome."""
        async def writer(n: int) -> list:
            outcomes = []
            for seq in range(1, 11):
                outcomes += await journal.write_messages([[_rec(f"w{n}", seq)]])
            outcomes += await journal.write_messages([[_rec(f"w{n}", 1)]])  # a duplicate
            return outcomes

        writers = (writer(n) for n in range(self.concurrent_writers))
        all_outcomes = await asyncio.wait_for(asyncio.gather(*writers), 60)
        for n, outcomes in enumerate(all_outcomes):
            assert outcomes[:10] == [None] * 10
            assert isinstance(outcomes[10], EventRejectedError)
            assert await _seqs(journal, f"w{n}") == list(range(1, 11))


@pytest.mark.asyncio
class SnapshotStoreSpec:
    """The checks every :class:`~atomr.persistence.SnapshotStore` passes.

    Subclass it (name the subclass ``Test...``) and override the
    :meth:`store` fixture to return a new, empty snapshot store for each
    test.
    """

    @pytest.fixture
    def store(self) -> SnapshotStore:
        """A new, empty snapshot store. Override this fixture (it may take
        other fixtures, such as ``tmp_path``)."""
        pytest.fail(f"{type(self).__name__} must override the `store` fixture")

    async def test_load_returns_the_latest_snapshot(self, store: SnapshotStore) -> None:
        """Without criteria the snapshot with the highest number is loaded."""
        for s in (_snap("a", 5, 100), _snap("a", 15, 300), _snap("a", 10, 200),
                  _snap("ab", 20, 400)):
            await store.save_snapshot(s)
        assert await store.load_snapshot("a") == _snap("a", 15, 300)
        assert await store.load_snapshot("a", SnapshotSelectionCriteria.latest()) == \
            _snap("a", 15, 300)
        assert await store.load_snapshot("unknown") is None

    async def test_load_selects_by_max_sequence_nr_and_by_timestamp(
            self, store: SnapshotStore) -> None:
        """Selection criteria bound the sequence number and the timestamp."""
        for s in (_snap("a", 5, 100), _snap("a", 10, 200), _snap("a", 15, 300)):
            await store.save_snapshot(s)
        by_seq = await store.load_snapshot("a", SnapshotSelectionCriteria(max_sequence_nr=12))
        assert by_seq.sequence_nr == 10
        by_time = await store.load_snapshot("a", SnapshotSelectionCriteria(max_timestamp_ms=150))
        assert by_time.sequence_nr == 5
        both = await store.load_snapshot("a", SnapshotSelectionCriteria(
            max_sequence_nr=14, max_timestamp_ms=250, min_sequence_nr=6))
        assert both.sequence_nr == 10
        assert await store.load_snapshot("a", SnapshotSelectionCriteria(max_sequence_nr=4)) is None
        assert await store.load_snapshot("a",
                                         SnapshotSelectionCriteria(min_timestamp_ms=301)) is None

    async def test_snapshots_are_deleted_singly_and_by_criteria(self, store: SnapshotStore) -> None:
        """``delete_snapshot`` removes one, ``delete_snapshots`` those matching, of one id."""
        for seq in (1, 2, 3, 4):
            await store.save_snapshot(_snap("a", seq, seq * 10))
        await store.save_snapshot(_snap("b", 1, 10))
        await store.delete_snapshot("a", 4)
        await store.delete_snapshot("a", 99)
        assert (await store.load_snapshot("a")).sequence_nr == 3
        await store.delete_snapshots("a", SnapshotSelectionCriteria(max_timestamp_ms=25))
        assert await store.load_snapshot("a", SnapshotSelectionCriteria(max_sequence_nr=2)) is None
        assert (await store.load_snapshot("a")).sequence_nr == 3
        await store.delete_snapshots("a", SnapshotSelectionCriteria())
        assert await store.load_snapshot("a") is None
        assert (await store.load_snapshot("b")).sequence_nr == 1

    async def test_saving_at_the_same_sequence_nr_overwrites(self, store: SnapshotStore) -> None:
        """A second snapshot at a number replaces the first."""
        await store.save_snapshot(_snap("a", 7, 100, b"first"))
        await store.save_snapshot(_snap("a", 7, 200, b"second"))
        assert await store.load_snapshot("a") == _snap("a", 7, 200, b"second")
