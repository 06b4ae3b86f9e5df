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

Run: ``python3 -m pytest benchmarks/test_bench_persistence_postgres.py``.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import pytest

from atomr import props
from atomr.persistence.postgres._testing import TemporaryCluster, find_bin_dir
from baselines import AsyncioActor, stop_asyncio_actors
from test_bench_persistence import WAIT, Counter, atomr_system

asyncpg = pytest.importorskip("asyncpg")
if find_bin_dir() is None:
    pytest.skip("PostgreSQL's initdb is not installed", allow_module_level=True)

from atomr.persistence.postgres import PostgresJournal, migrate  # noqa: E402
from test_bench_persistence import _persist_atomr, _recover_atomr  # noqa: E402

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
    per_actor = n // actors
    with fresh_database(cluster) as dsn, atomr_system("bench-pg-persist") as (runner, system):
        journal = PostgresJournal(dsn, pool_size=POOL)
        try:
            refs = [system.actor_of(props(Counter, factory=lambda i=i: Counter(
                journal=journal, persistent_id=f"counter-{i}")), f"counter-{i}")
                for i in range(actors)]
            expected = [0]

            async def drive(ref) -> int:
                last = 0
                for _ in range(per_actor):
                    last = await ref.ask(1, timeout=WAIT)
                return last

            async def one_round() -> None:
                expected[0] += per_actor
                assert await asyncio.gather(*(drive(r) for r in refs)) == [expected[0]] * actors

            yield (lambda: runner.run(one_round())), None
        finally:
            journal.close()


@contextmanager
def _persist_asyncpg(cluster: TemporaryCluster, n: int, actors: int):
    per_actor = n // actors
    with fresh_database(cluster) as dsn, asyncio.Runner() as runner:
        async def make_pool() -> Any:
            return await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)

        pool = runner.run(make_pool())

        async def make() -> list[PgCounter]:
            return [PgCounter(pool, f"counter-{i}") for i in range(actors)]

        counters = runner.run(make())
        expected = [0]

        async def drive(actor: PgCounter) -> int:
            last = 0
            for _ in range(per_actor):
                last = await actor.ask(1)
            return last

        async def one_round() -> None:
            expected[0] += per_actor
            assert await asyncio.gather(*(drive(c) for c in counters)) == [expected[0]] * actors

        try:
            yield (lambda: runner.run(one_round())), None
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
    with fresh_database(cluster) as dsn, atomr_system("bench-pg-recover") as (runner, system):
        journal = PostgresJournal(dsn, pool_size=POOL)
        try:
            from atomr.persistence import PersistentRecord
            codecs = system.codecs
            payload = codecs.encode("builtins.dict", {"type": "Incremented", "by": 1})

            async def fill() -> None:
                for chunk in _chunks(n):
                    batch = [PersistentRecord("counter", seq, "builtins.dict", payload)
                             for seq in chunk]
                    assert await journal.write_messages([batch]) == [None]

            runner.run(fill())
            spawned = [0]

            async def one_round() -> None:
                spawned[0] += 1
                ref = system.actor_of(props(Counter, factory=lambda: Counter(
                    journal=journal, persistent_id="counter")), f"recover-{spawned[0]}")
                assert await ref.ask("get", timeout=WAIT) == n
                ref.stop()

            yield (lambda: runner.run(one_round())), None
        finally:
            journal.close()


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
