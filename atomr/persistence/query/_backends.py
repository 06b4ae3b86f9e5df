"""What a read journal needs of each store: pages of tagged events in the
journal's global order, replays, ids, and the highest ordering.
"""

from __future__ import annotations

from typing import Any

from atomr.persistence._inmemory import InMemoryJournal
from atomr.persistence._lmdb import LmdbJournal
from atomr.persistence._native import _NativeBackedJournal, _off_loop
from atomr.persistence._records import MAX_SEQUENCE_NR


class _Backend:
    """The operations of one journal kind (rows are native row tuples
    ``(pid, seq, manifest, payload, timestamp_ms, tags)``)."""

    identifier = ""

    def __init__(self, journal: Any) -> None:
        self.journal = journal

    async def tagged(self, tag: str, after: int, limit: int) -> list[tuple[int, tuple]]:
        """``(ordering, row)`` of events tagged `tag` with ordering above
        `after`, in order, at most `limit`."""
        raise NotImplementedError

    async def head(self, tag: str) -> int:
        """An ordering at or above the last tagged event committed now."""
        raise NotImplementedError

    async def replay(self, pid: str, lo: int, hi: int, limit: int) -> list[tuple]:
        raise NotImplementedError

    async def highest(self, pid: str) -> int:
        return int(await self.journal.read_highest_sequence_nr(pid))

    async def ids(self) -> list[str]:
        return list(await self.journal.persistence_ids())


class _NativeBackend(_Backend):
    """The in-memory and LMDB journals (C++): their tag index."""

    def __init__(self, journal: _NativeBackedJournal) -> None:
        super().__init__(journal)
        self.native = journal._native

    async def _call(self, fn: Any, *args: Any) -> Any:
        if self.native.blocking:
            return await _off_loop(fn, *args)
        return fn(*args)

    async def tagged(self, tag: str, after: int, limit: int) -> list[tuple[int, tuple]]:
        return await self._call(self.native.events_by_tag_ordered, tag,
                                min(after, MAX_SEQUENCE_NR), limit)

    async def head(self, tag: str) -> int:
        return await self._call(self.native.highest_ordering)

    async def replay(self, pid: str, lo: int, hi: int, limit: int) -> list[tuple]:
        return await self._call(self.native.replay, pid, lo, hi, limit)


class _InMemoryBackend(_NativeBackend):
    identifier = "inmemory"


class _LmdbBackend(_NativeBackend):
    identifier = "lmdb"


class _PostgresBackend(_Backend):
    """The PostgreSQL journal: its ``atomr_event_tag`` index and ``ordering``."""

    identifier = "postgres"

    async def tagged(self, tag: str, after: int, limit: int) -> list[tuple[int, tuple]]:
        return await self.journal._tagged_rows(tag, after, limit)

    async def head(self, tag: str) -> int:
        return int(await self.journal._highest_tag_ordering(tag))

    async def replay(self, pid: str, lo: int, hi: int, limit: int) -> list[tuple]:
        records = await self.journal.replay_messages(pid, lo, hi, limit)
        return [(r.persistence_id, r.sequence_nr, r.manifest, r.payload, r.timestamp_ms, r.tags)
                for r in records]


def backend_for(journal: Any) -> _Backend:
    """The query backend of `journal`.

    Raises:
        TypeError: no read journal exists for that kind of journal.
    """
    if isinstance(journal, InMemoryJournal):
        return _InMemoryBackend(journal)
    if isinstance(journal, LmdbJournal):
        return _LmdbBackend(journal)
    from atomr.persistence.postgres._journal import PostgresJournal  # no asyncpg needed
    if isinstance(journal, PostgresJournal):
        return _PostgresBackend(journal)
    raise TypeError(f"there is no read journal for {type(journal).__name__}: queries run on "
                    f"InMemoryJournal, LmdbJournal and PostgresJournal")
