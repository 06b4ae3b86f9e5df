"""PostgreSQL persistence benchmarks: atomr's event-sourced actors on the
PostgreSQL journal (``atomr``) raced, in the same run, against the same
actors on the LMDB journal (``atomr-lmdb``, synced commits) and against a
hand-written asyncio actor that inserts each event with plain asyncpg
(``asyncpg-loop``: one INSERT, one commit per event, over a pool as large
as the journal's).

The server is a throwaway cluster (initdb + pg_ctl in a temporary
directory, Unix socket, default settings: every commit is flushed to disk)
started for this module.

* pg-persist-1: one actor, one ask per event; the event is committed
  before the reply. Rate = events / round time.
* pg-persist-100: 100 actors persisting concurrently: the PostgreSQL
  journal sends the writes waiting while a commit is in flight as one
  group commit (one round trip); the baseline commits each insert on its own
  (PostgreSQL may still flush concurrent commits together).
* pg-recover: one actor recovers N events (replay through its event
  handler) -- a spawn plus the first ask, against a SELECT of the events
  folded by hand.
* events-by-tag: a current events_by_tag query reads the tagged tenth of a
  journal (PostgreSQL and LMDB tag indexes), against the old full scan of
  the LMDB journal and a plain asyncpg paging loop.

The actor harness (``persist_on``, ``recover_on``, ``rounds``) is the LMDB
benchmark's (test_bench_persistence.py), run on a PostgreSQL journal.

Run: ``python3 -m pytest benchmarks/test_bench_persistence_postgres.py``.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import pytest

from atomr.persistence.postgres._testing import TemporaryCluster, find_bin_dir
from baselines import AsyncioActor, stop_asyncio_actors

asyncpg = pytest.importorskip("asyncpg")
if find_bin_dir() is None:
    pytest.skip("PostgreSQL's initdb is not installed", allow_module_level=True)

from atomr.persistence.postgres import PostgresJournal, migrate  # noqa: E402
from test_bench_persistence import (  # noqa: E402
    _persist_atomr, _recover_atomr, persist_on, recover_on, rounds, scratch_dir,
)

IMPLS = ("atomr", "atomr-lmdb", "asyncpg-loop")
SIZES = {
    "pg-persist-1": {"atomr": 500, "atomr-lmdb": 1_000, "asyncpg-loop": 500},
    "pg-persist-100": {"atomr": 5_000, "atomr-lmdb": 10_000, "asyncpg-loop": 5_000},
    "pg-recover": {"atomr": 50_000, "atomr-lmdb": 50_000, "asyncpg-loop": 50_000},
}
ACTORS = 100
ROUNDS = 5
POOL = 8  # the journal's default pool size; the baseline gets as many connections

_databases = iter(range(1, 1_000_000))


@pytest.fixture(scope="module")
def cluster() -> Iterator[TemporaryCluster]:
    server = TemporaryCluster()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@contextmanager
def fresh_database(cluster: TemporaryCluster) -> Iterator[str]:
    """The DSN of a new, migrated database (dropped afterwards)."""
    name = f"bench{next(_databases)}"
    cluster.psql(f"CREATE DATABASE {name}")
    dsn = cluster.dsn(name)
    try:
        asyncio.run(migrate(dsn))
        asyncio.run(_create_baseline_table(dsn))
        yield dsn
    finally:
        cluster.psql(f"DROP DATABASE {name} WITH (FORCE)")


async def _create_baseline_table(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_events (pid TEXT NOT NULL, seq BIGINT NOT NULL, "
                           "payload BYTEA NOT NULL, PRIMARY KEY (pid, seq))")
    finally:
        await conn.close()


class PgCounter(AsyncioActor):
    """The baseline: counts increments; each is one INSERT (its own commit)
    of a JSON event before the reply."""

    __slots__ = ("_pool", "pid", "count", "seq")

    def __init__(self, pool: Any, pid: str) -> None:
        super().__init__()
        self._pool = pool
        self.pid = pid
        self.count = 0
        self.seq = 0

    async def handle(self, msg: Any, sender: Optional[AsyncioActor]) -> Any:
        event = {"type": "Incremented", "by": msg}
        await self._pool.execute("INSERT INTO bench_events (pid, seq, payload) VALUES ($1, $2, $3)",
                                 self.pid, self.seq + 1, json.dumps(event).encode())
        self.seq += 1
        self.count += msg
        return self.seq


# -- persist: one actor and 100 actors ------------------------------------------------


@contextmanager
def _persist_postgres(cluster: TemporaryCluster, n: int, actors: int):
    with fresh_database(cluster) as dsn, persist_on(lambda: PostgresJournal(dsn, pool_size=POOL),
                                                    n, actors, "bench-pg-persist") as r:
        yield r


@contextmanager
def _persist_asyncpg(cluster: TemporaryCluster, n: int, actors: int):
    with fresh_database(cluster) as dsn, asyncio.Runner() as runner:
        async def make_pool() -> Any:
            return await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)

        pool = runner.run(make_pool())

        async def make() -> list[PgCounter]:
            return [PgCounter(pool, f"counter-{i}") for i in range(actors)]

        counters = runner.run(make())
        try:
            yield rounds(runner, [c.ask for c in counters], n // actors), None
        finally:
            runner.run(stop_asyncio_actors(counters))
            runner.run(pool.close())


def _persist_factory(cluster: TemporaryCluster, impl: str, actors: int):
    if impl == "atomr":
        return lambda n: _persist_postgres(cluster, n, actors)
    if impl == "atomr-lmdb":
        return lambda n: _persist_atomr(n, actors)
    return lambda n: _persist_asyncpg(cluster, n, actors)


@pytest.mark.parametrize("impl", IMPLS)
def test_pg_persist_one_actor(race, cluster, impl):
    """Persisted events/s of one actor, one ask per event, each event
    committed (PostgreSQL: flushed to the WAL; LMDB: synced) before the
    reply."""
    race("pg-persist-1", impl, SIZES["pg-persist-1"][impl], ROUNDS,
         _persist_factory(cluster, impl, 1))


@pytest.mark.parametrize("impl", IMPLS)
def test_pg_persist_100_actors(race, cluster, impl):
    """Persisted events/s of 100 actors persisting concurrently (atomr: group
    commits of the PostgreSQL journal, or of LMDB; baseline: one INSERT and
    commit per event over the pool)."""
    race("pg-persist-100", impl, SIZES["pg-persist-100"][impl], ROUNDS,
         _persist_factory(cluster, impl, ACTORS))


# -- recovery ---------------------------------------------------------------------------------


def _chunks(n: int, size: int = 1000) -> Iterator[range]:
    for start in range(1, n + 1, size):
        yield range(start, min(start + size, n + 1))


@contextmanager
def _recover_postgres(cluster: TemporaryCluster, n: int):
    with fresh_database(cluster) as dsn, recover_on(lambda: PostgresJournal(dsn, pool_size=POOL),
                                                    n, "bench-pg-recover") as r:
        yield r


@contextmanager
def _recover_asyncpg(cluster: TemporaryCluster, n: int):
    with fresh_database(cluster) as dsn, asyncio.Runner() as runner:
        conn = runner.run(asyncpg.connect(dsn))
        event = json.dumps({"type": "Incremented", "by": 1}).encode()
        for chunk in _chunks(n):
            runner.run(conn.executemany(
                "INSERT INTO bench_events (pid, seq, payload) VALUES ($1, $2, $3)",
                [("counter", seq, event) for seq in chunk]))

        async def recover() -> int:
            count = 0
            rows = await conn.fetch("SELECT payload FROM bench_events WHERE pid = $1 "
                                    "ORDER BY seq", "counter")
            for row in rows:
                event = json.loads(row[0])
                if event["type"] == "Incremented":
                    count += event["by"]
            return count

        def one_round() -> None:
            assert runner.run(recover()) == n

        try:
            yield one_round, None
        finally:
            runner.run(conn.close())


@pytest.mark.parametrize("impl", IMPLS)
def test_pg_recovery(race, cluster, impl):
    """Recovered events/s: an actor replays N events from the PostgreSQL
    journal (or LMDB) through its event handler before answering its first
    ask, vs. a SELECT of N JSON events folded by hand."""
    if impl == "atomr":
        factory = lambda n: _recover_postgres(cluster, n)  # noqa: E731
    elif impl == "atomr-lmdb":
        factory = _recover_atomr
    else:
        factory = lambda n: _recover_asyncpg(cluster, n)  # noqa: E731
    race("pg-recover", impl, SIZES["pg-recover"][impl], ROUNDS, factory)


# -- events by tag ------------------------------------------------------------------------------
#
# A journal of TAG_EVENTS * 10 events of 100 entities, one in ten tagged "t";
# a round reads the TAG_EVENTS tagged ones. atomr: the read journal's
# current_events_by_tag (pages from the tag index, decoded into envelopes,
# through an atomr.streams Source) on PostgreSQL and on LMDB; lmdb-scan: the
# old way on LMDB, the journal's synchronous events_by_tag helper, which
# scans every event; asyncpg-select: pages of the same PostgreSQL tables
# read with plain asyncpg (SELECT ... JOIN on the tag index, LIMIT 500).

TAG_IMPLS = ("atomr", "atomr-lmdb", "lmdb-scan", "asyncpg-select")
TAG_EVENTS = 10_000
TAG_PAGE = 500


def _fill_tagged(runner: asyncio.Runner, journal: Any) -> None:
    from atomr.persistence import PersistentRecord
    per_entity = TAG_EVENTS * 10 // 100

    async def fill() -> None:
        for e in range(100):
            batch = [PersistentRecord(f"entity-{e}", seq, "bytes", b"%d" % seq, 0,
                                      ("t",) if seq % 10 == 0 else ())
                     for seq in range(1, per_entity + 1)]
            assert await journal.write_messages([batch]) == [None]

    runner.run(fill())


@contextmanager
def _by_tag_atomr(make_journal: Any):
    from atomr.persistence.query import ReadJournal
    from atomr.streams import Sink
    with asyncio.Runner() as runner:
        journal = make_journal()
        try:
            _fill_tagged(runner, journal)
            rj = ReadJournal(journal, batch_size=TAG_PAGE)
            count = Sink.fold(0, lambda n, _: n + 1)

            async def read() -> int:
                return await rj.current_events_by_tag("t").run_with(count)

            def one_round() -> None:
                assert runner.run(read()) == TAG_EVENTS

            yield one_round, None
        finally:
            close = getattr(journal, "close", None)
            if close is not None:
                close()


@contextmanager
def _by_tag_scan(n: int):
    from atomr.persistence import LmdbJournal
    with scratch_dir() as path, asyncio.Runner() as runner:
        journal = LmdbJournal(path, sync=False)
        _fill_tagged(runner, journal)

        def one_round() -> None:
            assert len(journal.events_by_tag("t")) == TAG_EVENTS

        yield one_round, None


@contextmanager
def _by_tag_asyncpg(cluster: TemporaryCluster):
    with fresh_database(cluster) as dsn, asyncio.Runner() as runner:
        journal = PostgresJournal(dsn)
        try:
            _fill_tagged(runner, journal)
        finally:
            journal.close()
        conn = runner.run(asyncpg.connect(dsn))

        async def read() -> int:
            count, after = 0, 0
            while True:
                rows = await conn.fetch(
                    "SELECT j.ordering, j.persistence_id, j.sequence_nr, j.manifest, j.payload, "
                    "j.timestamp_ms, j.tags FROM atomr_event_tag t JOIN atomr_journal j "
                    "ON j.ordering = t.ordering WHERE t.tag = $1 AND t.ordering > $2 "
                    "ORDER BY t.ordering LIMIT $3", "t", after, TAG_PAGE)
                for row in rows:
                    (row[1], row[2], row[4], row[5], tuple(row[6]))
                count += len(rows)
                if len(rows) < TAG_PAGE:
                    return count
                after = rows[-1][0]

        def one_round() -> None:
            assert runner.run(read()) == TAG_EVENTS

        try:
            yield one_round, None
        finally:
            runner.run(conn.close())


@pytest.mark.parametrize("impl", TAG_IMPLS)
def test_events_by_tag(race, cluster, impl):
    """Tagged events/s read by a current events_by_tag query from a journal
    where one event in ten carries the tag: the tag index (PostgreSQL,
    LMDB) vs. the old full scan of the LMDB journal and a plain asyncpg
    paging loop over the same tables."""
    if impl == "atomr":
        def factory(n):
            @contextmanager
            def scenario():
                with fresh_database(cluster) as dsn, _by_tag_atomr(
                        lambda: PostgresJournal(dsn, pool_size=POOL)) as r:
                    yield r
            return scenario()
    elif impl == "atomr-lmdb":
        def factory(n):
            @contextmanager
            def scenario():
                from atomr.persistence import LmdbJournal
                with scratch_dir() as path, _by_tag_atomr(
                        lambda: LmdbJournal(path, sync=False)) as r:
                    yield r
            return scenario()
    elif impl == "lmdb-scan":
        factory = _by_tag_scan
    else:
        factory = lambda n: _by_tag_asyncpg(cluster)  # noqa: E731
    race("events-by-tag", impl, TAG_EVENTS, ROUNDS, factory)
