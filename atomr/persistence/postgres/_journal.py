"""The PostgreSQL journal and snapshot store.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from atomr._util import public_module
from atomr.errors import EventRejectedError
from atomr.persistence._native import _snapshot_args
from atomr.persistence._records import (
    MAX_SEQUENCE_NR,
    PersistentRecord,
    SnapshotRecord,
    SnapshotSelectionCriteria,
    _check_seq,
    _now_ms,
)
from atomr.persistence._store import Journal, SnapshotStore
from atomr.persistence.postgres._client import _check_dsn, _Client
from atomr.persistence.postgres._schema import _check_schema

#: The largest number a PostgreSQL BIGINT holds (sequence numbers beyond it
#: are rejected; bounds beyond it are clamped).
_MAX_BIGINT = 2**63 - 1

# Empty tag arrays come back as NULL: cheaper to decode.
_SELECT_EVENTS = (
    "SELECT sequence_nr, manifest, payload, timestamp_ms, NULLIF(tags, '{}') FROM atomr_journal "
    "WHERE persistence_id = $1 AND sequence_nr BETWEEN $2 AND $3 "
    "ORDER BY sequence_nr LIMIT $4")


# What recovery reads: rows indexed (pid, seq, manifest, payload) as the
# built-in journals' row tuples, with the id left NULL (it is not read).
_SELECT_ROWS = (
    "SELECT NULL::text, sequence_nr, manifest, payload FROM atomr_journal "
    "WHERE persistence_id = $4 AND sequence_nr BETWEEN $1 AND $2 "
    "ORDER BY sequence_nr LIMIT $3")


def _options(dsn: Any, schema: Any, pool_size: Any, connect_timeout: Any) -> tuple:
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ValueError(f"pool_size must be an int of at least 1, got {pool_size!r}")
    if (isinstance(connect_timeout, bool) or not isinstance(connect_timeout, (int, float))
            or not connect_timeout > 0):
        raise ValueError(f"connect_timeout must be a positive number of seconds, "
                         f"got {connect_timeout!r}")
    return _check_dsn(dsn), _check_schema(schema), pool_size, float(connect_timeout)


def _text_problem(value: str) -> Optional[str]:
    if "\x00" in value:
        return f"{value!r} holds a NUL character, which PostgreSQL text cannot store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"{value!r} is not valid Unicode text ({exc.reason})"
    return None


def _batch_row(batch: Sequence[PersistentRecord]) -> Any:
    """``(pid, first, [(manifest, payload, ts, tags)])`` for a batch that
    can be sent, else the reason it is rejected (a str)."""
    reason = Journal.validate_records(batch)
    if reason is not None:
        return reason
    first = batch[0].sequence_nr
    reason = Journal.check_batch(batch, first - 1)
    if reason is not None:
        return reason
    pid = batch[0].persistence_id
    if batch[-1].sequence_nr > _MAX_BIGINT:
        return f"sequence number {batch[-1].sequence_nr} of `{pid}` exceeds 2**63 - 1"
    reason = _text_problem(pid)
    events = []
    for record in batch:
        for text in (record.manifest, *record.tags):
            reason = reason or _text_problem(text)
        payload = record.payload
        events.append((record.manifest, payload if isinstance(payload, bytes) else bytes(payload),
                       record.timestamp_ms, tuple(record.tags)))
    return reason if reason is not None else (pid, first, events)


def _bounds(from_seq: int, to_seq: int, max: int) -> tuple[int, int, int]:
    return (min(_check_seq(from_seq, "from_sequence_nr"), _MAX_BIGINT),
            min(_check_seq(to_seq, "to_sequence_nr"), _MAX_BIGINT),
            min(_check_seq(max, "max"), _MAX_BIGINT))


# -- the operations, run on the client's loop ---------------------------------------------


def _record(pid: str, seq: int, manifest: str, payload: bytes, ts: int,
            tags: Optional[list]) -> PersistentRecord:
    """A PersistentRecord of trusted values, made without the dataclass's
    (frozen, so slower) __init__: replays make many."""
    record = _new(PersistentRecord)
    record.__dict__.update(persistence_id=pid, sequence_nr=seq, manifest=manifest,
                           payload=payload, timestamp_ms=ts, tags=tuple(tags) if tags else ())
    return record


_new = object.__new__


async def _op_replay_rows(conn: Any, pid: str, lo: int, hi: int, limit: int) -> list:
    # Rows indexed as the built-in journals' row tuples (the id unused).
    return await conn.fetch(_SELECT_ROWS, lo, hi, limit, pid)


async def _op_replay(conn: Any, pid: str, lo: int, hi: int, limit: int) -> list[PersistentRecord]:
    rows = await conn.fetch(_SELECT_EVENTS, pid, lo, hi, limit)
    return [_record(pid, *r) for r in rows]


async def _op_highest(conn: Any, pid: str) -> int:
    value = await conn.fetchval(
        "SELECT highest FROM atomr_journal_highest WHERE persistence_id = $1", pid)
    return 0 if value is None else value


async def _op_delete_to(conn: Any, pid: str, to_seq: int) -> None:
    await conn.execute(
        "WITH gone AS (DELETE FROM atomr_journal WHERE persistence_id = $1 AND sequence_nr <= $2 "
        "RETURNING ordering, tags) "
        "DELETE FROM atomr_event_tag t USING gone "
        "WHERE t.ordering = gone.ordering AND t.tag = ANY(gone.tags)", pid, to_seq)


async def _op_ids(conn: Any) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT persistence_id FROM atomr_journal_highest")]


async def _op_by_tag(conn: Any, tag: str, after: int, limit: int) -> list:
    rows = await conn.fetch(
        "SELECT j.ordering, j.persistence_id, j.sequence_nr, j.manifest, j.payload, "
        "j.timestamp_ms, j.tags FROM atomr_event_tag t JOIN atomr_journal j "
        "ON j.ordering = t.ordering WHERE t.tag = $1 AND t.ordering > $2 "
        "ORDER BY t.ordering LIMIT $3", tag, after, limit)
    return [(r[0], _record(r[1], r[2], r[3], r[4], r[5], r[6])) for r in rows]


async def _op_by_tag_rows(conn: Any, tag: str, after: int, limit: int) -> list:
    # (ordering, (pid, seq, manifest, payload, ts, tags)): what read journals page through.
    rows = await conn.fetch(
        "SELECT j.ordering, j.persistence_id, j.sequence_nr, j.manifest, j.payload, "
        "j.timestamp_ms, j.tags FROM atomr_event_tag t JOIN atomr_journal j "
        "ON j.ordering = t.ordering WHERE t.tag = $1 AND t.ordering > $2 "
        "ORDER BY t.ordering LIMIT $3", tag, after, limit)
    return [(r[0], (r[1], r[2], r[3], r[4], r[5], r[6])) for r in rows]


async def _op_max_tag_ordering(conn: Any, tag: str) -> int:
    value = await conn.fetchval("SELECT max(ordering) FROM atomr_event_tag WHERE tag = $1", tag)
    return 0 if value is None else value


async def _op_save_snapshot(conn: Any, args: tuple) -> None:
    await conn.execute(
        "INSERT INTO atomr_snapshot (persistence_id, sequence_nr, timestamp_ms, manifest, payload) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (persistence_id, sequence_nr) DO UPDATE SET "
        "timestamp_ms = EXCLUDED.timestamp_ms, manifest = EXCLUDED.manifest, "
        "payload = EXCLUDED.payload", *args)


_CRITERIA = ("persistence_id = $1 AND sequence_nr BETWEEN $4 AND $2 "
             "AND timestamp_ms BETWEEN $5 AND $3")


async def _op_load_snapshot(conn: Any, pid: str, bounds: tuple) -> Optional[SnapshotRecord]:
    row = await conn.fetchrow(
        f"SELECT sequence_nr, timestamp_ms, manifest, payload FROM atomr_snapshot "
        f"WHERE {_CRITERIA} ORDER BY sequence_nr DESC LIMIT 1", pid, *bounds)
    return None if row is None else SnapshotRecord(pid, row[0], row[1], row[2], row[3])


async def _op_delete_snapshots(conn: Any, pid: str, bounds: tuple) -> None:
    await conn.execute(f"DELETE FROM atomr_snapshot WHERE {_CRITERIA}", pid, *bounds)


def _criteria_bounds(criteria: SnapshotSelectionCriteria) -> tuple[int, int, int, int]:
    if not isinstance(criteria, SnapshotSelectionCriteria):
        raise TypeError(f"criteria must be a SnapshotSelectionCriteria, "
                        f"not {type(criteria).__name__}")
    max_seq, max_ts, min_seq, min_ts = criteria._bounds()
    return min(max_seq, _MAX_BIGINT), max_ts, min(min_seq, _MAX_BIGINT), min_ts


def _check_pid(pid: Any) -> str:
    if not isinstance(pid, str):
        raise TypeError(f"persistence_id must be a str, not {type(pid).__name__}")
    return pid


# -- the journal ------------------------------------------------------------------------------


@public_module("atomr.persistence.postgres")
class PostgresJournal(Journal):
    """A journal in a PostgreSQL database, reached through asyncpg.

    Create the tables first, once per database (and schema), with
    ``python -m atomr.persistence.postgres migrate --dsn DSN`` or
    :func:`migrate`.

    Writes: the batches of every actor of the process that are waiting
    while a commit is in flight go together in the next one -- one round
    trip and one transaction (group commit). A batch is acknowledged once
    PostgreSQL committed it. Each batch is checked against the id's
    highest sequence number inside that transaction (an optimistic check
    under the id's row lock): when two processes write the same id, the
    second batch for a number is rejected with
    :class:`EventRejectedError` and nothing is lost or stored twice.

    Failures: a lost connection, a server that is down or restarting, or
    any other database error raises :class:`JournalError` for the writes
    of that commit (whose outcome is then unknown: a recovering actor reads
    what was stored). The pool reconnects on the next call, so the journal
    works again once the server does.

    Every event has a place in the journal's global order (the
    ``ordering`` column); :meth:`tagged_events` and the read journal of
    :mod:`atomr.persistence.query` read tagged events by it. Since migration
    2, writes of tagged events take a transaction-level advisory lock, so
    their orderings commit in order and a query resuming from an offset
    misses none.

    The pool lives on an event loop thread of its own (``atomr-postgres``,
    one per process, shared by every journal); the journal can be used
    from any event loop and, through the synchronous helpers, from plain
    threads. :meth:`close` releases it.

    Args:
        dsn: A ``postgresql://user:password@host:port/database`` URI (a
            Unix socket directory goes in ``?host=/path``).
        schema: The PostgreSQL schema holding the tables.
        pool_size: The most connections the journal opens.
        connect_timeout: Seconds to wait for a new connection.

    Raises:
        ValueError: a bad `dsn`, `schema`, `pool_size` or `connect_timeout`.
        ImportError: asyncpg is not installed.

    Example:
        >>> journal = PostgresJournal("postgresql://app@db.internal/events")  # doctest: +SKIP
        >>> journal.write("counter-1", 1, b"\\x01")                          # doctest: +SKIP
    """

    _client: _Client
    _snapshots: Optional["PostgresSnapshotStore"] = None

    def __init__(self, dsn: str, *, schema: str = "public", pool_size: int = 8,
                 connect_timeout: float = 10.0) -> None:
        self._client = _Client(*_options(dsn, schema, pool_size, connect_timeout))

    @classmethod
    def _from_settings(cls, settings: dict) -> "PostgresJournal":
        return cls(**_settings_kwargs(settings))

    # -- Journal ---------------------------------------------------------------------

    async def write_messages(
            self, batches: Sequence[Sequence[PersistentRecord]]) -> list[Optional[BaseException]]:
        batches = list(batches)
        results: list[Optional[BaseException]] = [None] * len(batches)
        rows, slots = [], []
        for i, batch in enumerate(batches):
            if not batch:
                continue
            row = _batch_row(batch)
            if isinstance(row, str):
                results[i] = EventRejectedError(row)
            else:
                rows.append(row)
                slots.append(i)
        if rows:
            try:
                outcomes = await self._client.call(self._client.write, rows)
            finally:
                signal = self.__dict__.get("_write_signal")  # live queries wait on it
                if signal is not None:
                    signal.notify()
            for i, (pid, first, events), highest in zip(slots, rows, outcomes):
                if highest is not None:
                    results[i] = EventRejectedError(
                        f"events {first}..{first + len(events) - 1} of `{pid}` do not follow its "
                        f"highest sequence number {highest} (another writer got there first, or "
                        f"the numbering skips)")
        return results

    async def replay_messages(self, persistence_id: str, from_sequence_nr: int = 1,
                              to_sequence_nr: int = MAX_SEQUENCE_NR,
                              max: int = MAX_SEQUENCE_NR) -> list[PersistentRecord]:
        pid = _check_pid(persistence_id)
        lo, hi, limit = _bounds(from_sequence_nr, to_sequence_nr, max)
        if lo > hi or limit == 0:
            return []
        return await self._run(_op_replay, pid, lo, hi, limit)

    async def _replay_rows(self, pid: str, from_seq: int, to_seq: int, max: int) -> list:
        """What recovery reads instead of :meth:`replay_messages`: rows
        indexed ``(unused, seq, manifest, payload)``."""
        lo, hi, limit = _bounds(from_seq, to_seq, max)
        if lo > hi or limit == 0:
            return []
        return await self._run(_op_replay_rows, _check_pid(pid), lo, hi, limit)

    async def read_highest_sequence_nr(self, persistence_id: str) -> int:
        return await self._run(_op_highest, _check_pid(persistence_id))

    async def delete_messages_to(self, persistence_id: str, to_sequence_nr: int) -> None:
        to = min(_check_seq(to_sequence_nr, "to_sequence_nr"), _MAX_BIGINT)
        await self._run(_op_delete_to, _check_pid(persistence_id), to)

    async def persistence_ids(self) -> list[str]:
        """Every persistence id written so far (in no promised order)."""
        return await self._run(_op_ids)

    async def tagged_events(self, tag: str, offset: int = 0,
                            max: int = 1000) -> list[tuple[int, PersistentRecord]]:
        """The events tagged `tag` after `offset` in the journal's global
        order, oldest first, at most `max`: ``(ordering, record)`` pairs
        (pass the last ordering as the next `offset`).

        Writes of tagged events commit their orderings in order (migration
        2), so the events below the highest ordering read are all there:
        passing it back as `offset` misses none. On a schema without
        migration 2, a commit still in flight could add events below it.
        """
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a str, not {type(tag).__name__}")
        after = min(_check_seq(offset, "offset"), _MAX_BIGINT)
        limit = min(_check_seq(max, "max"), _MAX_BIGINT)
        if limit == 0:
            return []
        return await self._run(_op_by_tag, tag, after, limit)

    async def _tagged_rows(self, tag: str, after: int, limit: int) -> list:
        """Like :meth:`tagged_events`, as ``(ordering, row tuple)`` pairs."""
        return await self._run(_op_by_tag_rows, tag, min(after, _MAX_BIGINT),
                               min(limit, _MAX_BIGINT))

    async def _highest_tag_ordering(self, tag: str) -> int:
        """The ordering of the last event tagged `tag` (0 when none)."""
        return await self._run(_op_max_tag_ordering, tag)

    def snapshot_store(self) -> "PostgresSnapshotStore":
        """A :class:`PostgresSnapshotStore` in the same database and schema,
        sharing this journal's pool (made on first use, then the same object
        every time)."""
        if self._snapshots is None:
            store = object.__new__(PostgresSnapshotStore)
            store._client = self._client
            self._snapshots = store
        return self._snapshots

    # -- synchronous helpers (block the calling thread) -------------------------------------

    def write(self, pid: str, seq: int, payload: bytes, tags: Iterable[str] = ()) -> None:
        """Appends one event with manifest ``"bytes"``.

        Raises:
            EventRejectedError: `seq` does not follow the id's highest
                number, or `payload` is not bytes.
            JournalError: the database failed.
        """
        self.write_event(pid, seq, payload, "bytes", tags)

    def write_event(self, pid: str, seq: int, payload: bytes, manifest: str,
                    tags: Iterable[str] = ()) -> None:
        """Appends one event with an explicit manifest (see :meth:`write`)."""
        record = PersistentRecord(pid, seq, manifest, payload, _now_ms(), tuple(tags))
        result = self._client.call_blocking(self.write_messages, [[record]])[0]
        if result is not None:
            raise result

    def replay_events(self, pid: str, from_seq: int = 1, to_seq: int = MAX_SEQUENCE_NR,
                      max: int = MAX_SEQUENCE_NR) -> list[tuple[int, bytes, str, list[str]]]:
        """``(seq, payload, manifest, tags)`` of `pid` numbered
        ``from_seq..to_seq`` (inclusive), at most `max`."""
        records = self._client.call_blocking(self.replay_messages, pid, from_seq, to_seq, max)
        return [(r.sequence_nr, r.payload, r.manifest, list(r.tags)) for r in records]

    def highest_sequence_nr(self, pid: str) -> int:
        """The highest number ever written for `pid` (0 when unknown)."""
        return self._client.call_blocking(self.read_highest_sequence_nr, pid)

    def delete_to(self, pid: str, to_seq: int) -> None:
        """Deletes the events of `pid` numbered up to `to_seq`."""
        self._client.call_blocking(self.delete_messages_to, pid, to_seq)

    def all_persistence_ids(self) -> list[str]:
        """Every persistence id written so far (unordered)."""
        return self._client.call_blocking(self.persistence_ids)

    def close(self) -> None:
        """Closes the connection pool (and that of :meth:`snapshot_store`,
        which shares it); calls after this raise :class:`JournalError`.
        Blocks until the pool is closed. Idempotent."""
        self._client.close()

    def _close_with_system(self) -> None:
        self._client.close(wait=False)

    async def _run(self, op: Any, *args: Any) -> Any:
        client = self._client
        return await client.call(client.run, op, *args)

    def __repr__(self) -> str:
        return f"<PostgresJournal schema={self._client.schema!r}>"


# Recovery may read _replay_rows while replay_messages is this one.
PostgresJournal._replay_rows_mirrors = PostgresJournal.replay_messages  # type: ignore[attr-defined]


@public_module("atomr.persistence.postgres")
class PostgresSnapshotStore(SnapshotStore):
    """A snapshot store in a PostgreSQL database (the ``atomr_snapshot``
    table; see :class:`PostgresJournal` for the arguments, the migration and
    the failure behaviour). Saving a snapshot at an id's existing sequence
    number replaces it."""

    _client: _Client

    def __init__(self, dsn: str, *, schema: str = "public", pool_size: int = 8,
                 connect_timeout: float = 10.0) -> None:
        self._client = _Client(*_options(dsn, schema, pool_size, connect_timeout))

    @classmethod
    def _from_settings(cls, settings: dict) -> "PostgresSnapshotStore":
        return cls(**_settings_kwargs(settings))

    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        args = _snapshot_args(snapshot)
        if args[1] > _MAX_BIGINT:
            raise ValueError(f"sequence number {args[1]} exceeds 2**63 - 1")
        for text in (args[0], args[3]):
            problem = _text_problem(text)
            if problem is not None:
                raise ValueError(problem)
        await self._run(_op_save_snapshot, args)

    async def load_snapshot(
            self, persistence_id: str,
            criteria: SnapshotSelectionCriteria = SnapshotSelectionCriteria()
    ) -> Optional[SnapshotRecord]:
        return await self._run(_op_load_snapshot, _check_pid(persistence_id),
                               _criteria_bounds(criteria))

    async def delete_snapshot(self, persistence_id: str, sequence_nr: int) -> None:
        seq = _check_seq(sequence_nr, "sequence_nr")
        if seq > _MAX_BIGINT:
            return
        await self.delete_snapshots(persistence_id, SnapshotSelectionCriteria(
            max_sequence_nr=seq, min_sequence_nr=seq))

    async def delete_snapshots(self, persistence_id: str,
                               criteria: SnapshotSelectionCriteria) -> None:
        await self._run(_op_delete_snapshots, _check_pid(persistence_id),
                        _criteria_bounds(criteria))

    def close(self) -> None:
        """Closes the connection pool (shared with the journal when the
        store came from :meth:`PostgresJournal.snapshot_store`). Idempotent."""
        self._client.close()

    def _close_with_system(self) -> None:
        self._client.close(wait=False)

    async def _run(self, op: Any, *args: Any) -> Any:
        client = self._client
        return await client.call(client.run, op, *args)

    def __repr__(self) -> str:
        return f"<PostgresSnapshotStore schema={self._client.schema!r}>"


def _settings_kwargs(settings: dict) -> dict[str, Any]:
    from atomr.config import ConfigError
    dsn = settings["persistence.postgres.dsn"]
    if not dsn:
        raise ConfigError("persistence.postgres.dsn must be set to use the PostgreSQL journal")
    return dict(dsn=dsn, schema=settings["persistence.postgres.schema"],
                pool_size=settings["persistence.postgres.pool-size"],
                connect_timeout=settings["persistence.postgres.connect-timeout"])

