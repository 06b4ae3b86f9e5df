"""The conformance suite every journal and snapshot store backend passes.

It runs on the built-in in-memory and LMDB backends and on a pure-Python
plugin written below against the public plugin API (:class:`Journal`,
:class:`SnapshotStore`), so a user's own backend can be checked the same way.
"""

from __future__ import annotations

import asyncio
from typing import Optional, Sequence

import pytest

from atomr.persistence import (
    MAX_SEQUENCE_NR, EventRejectedError, InMemoryJournal, InMemorySnapshotStore, Journal,
    LmdbJournal, LmdbSnapshotStore, PersistentRecord, SnapshotRecord, SnapshotSelectionCriteria,
    SnapshotStore,
)

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


# -- fixtures ---------------------------------------------------------------------------------

BACKENDS = ["inmemory", "lmdb", "plugin"]


@pytest.fixture(params=BACKENDS)
def journal(request, tmp_path) -> Journal:
    if request.param == "inmemory":
        return InMemoryJournal()
    if request.param == "lmdb":
        return LmdbJournal(tmp_path / "journal", map_size=1 << 20)
    return DictJournal()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path) -> SnapshotStore:
    if request.param == "inmemory":
        return InMemorySnapshotStore()
    if request.param == "lmdb":
        return LmdbSnapshotStore(tmp_path / "snapshots", map_size=1 << 20)
    return DictSnapshotStore()


def rec(pid: str, seq: int, payload: Optional[bytes] = None, tags=()) -> PersistentRecord:
    return PersistentRecord(pid, seq, "test.Event", payload if payload is not None
                            else f"{pid}-{seq}".encode(), 1_000 + seq, tuple(tags))


def batch(pid: str, first: int, last: int) -> list[PersistentRecord]:
    return [rec(pid, s) for s in range(first, last + 1)]


async def write_ok(journal: Journal, *batches) -> None:
    assert await journal.write_messages(list(batches)) == [None] * len(batches)


async def seqs(journal: Journal, pid: str, *args) -> list[int]:
    return [r.sequence_nr for r in await journal.replay_messages(pid, *args)]


# -- journal ------------------------------------------------------------------------------------


async def test_replay_returns_the_records_exactly_as_written(journal):
    records = [rec("a", 1, b"\x00\xffbinary", tags=("t",)), rec("a", 2, b"")]
    await write_ok(journal, records)
    assert await journal.replay_messages("a") == records


async def test_replay_honours_lower_and_upper_bounds_and_max(journal):
    await write_ok(journal, batch("a", 1, 10))
    assert await seqs(journal, "a", 3) == list(range(3, 11))
    assert await seqs(journal, "a", 1, 4) == [1, 2, 3, 4]
    assert await seqs(journal, "a", 2, 9, 3) == [2, 3, 4]
    assert await seqs(journal, "a", 5, 5) == [5]
    assert await seqs(journal, "a", 1, MAX_SEQUENCE_NR, 0) == []
    assert await seqs(journal, "a", 7, 3) == []
    assert await seqs(journal, "a", 11) == []


async def test_replay_of_an_unknown_id_is_empty_and_its_highest_is_zero(journal):
    await write_ok(journal, batch("a", 1, 2))
    assert await journal.replay_messages("nobody") == []
    assert await journal.read_highest_sequence_nr("nobody") == 0


async def test_entities_with_similar_ids_are_kept_apart(journal):
    await write_ok(journal, batch("a", 1, 3), batch("ab", 1, 2), batch("b", 1, 1))
    assert await seqs(journal, "a") == [1, 2, 3]
    assert await seqs(journal, "ab") == [1, 2]
    assert await journal.read_highest_sequence_nr("b") == 1
    assert sorted(await journal.persistence_ids()) == ["a", "ab", "b"]


async def test_highest_sequence_nr_never_decreases_also_after_deletes(journal):
    await write_ok(journal, batch("a", 1, 4))
    assert await journal.read_highest_sequence_nr("a") == 4
    await journal.delete_messages_to("a", 4)
    assert await journal.read_highest_sequence_nr("a") == 4
    assert await seqs(journal, "a") == []
    await write_ok(journal, batch("a", 5, 6))
    assert await journal.read_highest_sequence_nr("a") == 6
    assert await seqs(journal, "a") == [5, 6]


async def test_delete_to_removes_a_prefix_only(journal):
    await write_ok(journal, batch("a", 1, 6), batch("b", 1, 2))
    await journal.delete_messages_to("a", 3)
    assert await seqs(journal, "a") == [4, 5, 6]
    assert await seqs(journal, "a", 1, 4) == [4]
    await journal.delete_messages_to("a", 2)
    assert await seqs(journal, "a") == [4, 5, 6]
    await journal.delete_messages_to("a", 100)
    assert await seqs(journal, "a") == []
    assert await seqs(journal, "b") == [1, 2]
    await journal.delete_messages_to("unknown", 5)
    assert await journal.read_highest_sequence_nr("unknown") == 0


async def test_a_batch_is_written_wholly_or_not_at_all(journal):
    await write_ok(journal, batch("a", 1, 2))
    gap = batch("a", 3, 5)
    gap[2] = rec("a", 9)
    mixed = [rec("a", 3), rec("b", 4)]
    results = await journal.write_messages([gap, mixed, batch("a", 3, 4), batch("a", 1, 1)])
    assert len(results) == 4
    assert isinstance(results[0], EventRejectedError)
    assert isinstance(results[1], EventRejectedError)
    assert results[2] is None
    assert isinstance(results[3], EventRejectedError)  # a number taken already
    assert await seqs(journal, "a") == [1, 2, 3, 4]
    assert await seqs(journal, "b") == []


async def test_numbering_starts_at_one_and_empty_ids_are_rejected(journal):
    results = await journal.write_messages([batch("a", 2, 3), [rec("", 1)]])
    assert all(isinstance(r, EventRejectedError) for r in results)
    assert await journal.read_highest_sequence_nr("a") == 0


async def test_an_unencodable_event_is_rejected_and_the_journal_stays_usable(journal):
    unencodable = PersistentRecord("a", 3, "builtins.object", object())  # type: ignore[arg-type]
    results = await journal.write_messages([batch("a", 1, 2), [rec("b", 1), unencodable]])
    assert results[0] is None
    assert isinstance(results[1], EventRejectedError)
    assert "bytes" in str(results[1])
    assert await seqs(journal, "b") == []
    await write_ok(journal, batch("a", 3, 3))
    assert await seqs(journal, "a") == [1, 2, 3]


async def test_many_concurrent_writers_each_get_their_own_result(journal):
    async def writer(n: int) -> list:
        outcomes = []
        for seq in range(1, 11):
            outcomes += await journal.write_messages([[rec(f"w{n}", seq)]])
        outcomes += await journal.write_messages([[rec(f"w{n}", 1)]])  # a duplicate
        return outcomes

    all_outcomes = await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(40))), 60)
    for n, outcomes in enumerate(all_outcomes):
        assert outcomes[:10] == [None] * 10
        assert isinstance(outcomes[10], EventRejectedError)
        assert await seqs(journal, f"w{n}") == list(range(1, 11))


# -- snapshot store ------------------------------------------------------------------------------


def snap(pid: str, seq: int, ts: int, payload: bytes = b"state") -> SnapshotRecord:
    return SnapshotRecord(pid, seq, ts, "test.State", payload)


async def test_load_returns_the_latest_snapshot(store):
    for s in (snap("a", 5, 100), snap("a", 15, 300), snap("a", 10, 200), snap("ab", 20, 400)):
        await store.save_snapshot(s)
    assert await store.load_snapshot("a") == snap("a", 15, 300)
    assert await store.load_snapshot("a", SnapshotSelectionCriteria.latest()) == snap("a", 15, 300)
    assert await store.load_snapshot("unknown") is None


async def test_load_selects_by_max_sequence_nr_and_by_timestamp(store):
    for s in (snap("a", 5, 100), snap("a", 10, 200), snap("a", 15, 300)):
        await store.save_snapshot(s)
    by_seq = await store.load_snapshot("a", SnapshotSelectionCriteria(max_sequence_nr=12))
    assert by_seq.sequence_nr == 10
    by_time = await store.load_snapshot("a", SnapshotSelectionCriteria(max_timestamp_ms=150))
    assert by_time.sequence_nr == 5
    both = await store.load_snapshot("a", SnapshotSelectionCriteria(
        max_sequence_nr=14, max_timestamp_ms=250, min_sequence_nr=6))
    assert both.sequence_nr == 10
    assert await store.load_snapshot("a", SnapshotSelectionCriteria(max_sequence_nr=4)) is None
    assert await store.load_snapshot("a", SnapshotSelectionCriteria(min_timestamp_ms=301)) is None


async def test_snapshots_are_deleted_singly_and_by_criteria(store):
    for seq in (1, 2, 3, 4):
        await store.save_snapshot(snap("a", seq, seq * 10))
    await store.save_snapshot(snap("b", 1, 10))
    await store.delete_snapshot("a", 4)
    await store.delete_snapshot("a", 99)
    assert (await store.load_snapshot("a")).sequence_nr == 3
    await store.delete_snapshots("a", SnapshotSelectionCriteria(max_timestamp_ms=25))
    assert await store.load_snapshot("a", SnapshotSelectionCriteria(max_sequence_nr=2)) is None
    assert (await store.load_snapshot("a")).sequence_nr == 3
    await store.delete_snapshots("a", SnapshotSelectionCriteria())
    assert await store.load_snapshot("a") is None
    assert (await store.load_snapshot("b")).sequence_nr == 1


async def test_saving_at_the_same_sequence_nr_overwrites(store):
    await store.save_snapshot(snap("a", 7, 100, b"first"))
    await store.save_snapshot(snap("a", 7, 200, b"second"))
    assert await store.load_snapshot("a") == snap("a", 7, 200, b"second")
